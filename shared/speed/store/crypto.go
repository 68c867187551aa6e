package store

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btspeed/btspeed/shared/wallet"
	"golang.org/x/crypto/chacha20poly1305"
)

// Encryption on the requester (docs/speed-protocol.md section 12.1): keys
// come from the wallet's key under domain tags, so a restored recovery phrase
// opens the data again and no key is ever sent.

// Domain tags of the derivations.
const (
	tagStorageKey = "btspeed/storage-key/v1"
	tagObjectKey  = "btspeed/storage-object/v1"
	tagObjectID   = "btspeed/storage-id/v1"
)

// Key is an object's encryption key.
type Key [32]byte

// StorageKey is HMAC-SHA256(the account's private key, "btspeed/storage-key/v1").
func StorageKey(k *wallet.PrivateKey) [32]byte {
	m := hmac.New(sha256.New, k.Bytes())
	m.Write([]byte(tagStorageKey))
	return [32]byte(m.Sum(nil))
}

// ObjectKey is HKDF-SHA256(storage key, salt = the object's nonce,
// info = "btspeed/storage-object/v1").
func ObjectKey(storageKey [32]byte, nonce [16]byte) (Key, error) {
	b, err := hkdf.Key(sha256.New, storageKey[:], nonce[:], tagObjectKey, 32)
	if err != nil {
		return Key{}, fmt.Errorf("store: object key: %w", err)
	}
	return Key(b), nil
}

// NewObjectID is sha256("btspeed/storage-id/v1" || nonce || account).
func NewObjectID(nonce [16]byte, account wallet.Address) ObjectID {
	h := sha256.New()
	h.Write([]byte(tagObjectID))
	h.Write(nonce[:])
	h.Write(account[:])
	return ObjectID(h.Sum(nil))
}

// Chunks is how many chunks a plaintext of plainLen bytes makes (at least 1).
func Chunks(plainLen uint64) uint64 {
	return max(1, (plainLen+PlainChunkSize-1)/PlainChunkSize)
}

// CipherLen is the ciphertext length of a plaintext of plainLen bytes.
func CipherLen(plainLen uint64) uint64 { return plainLen + TagSize*Chunks(plainLen) }

// PlainLen is the plaintext length of a ciphertext of cipherLen bytes.
func PlainLen(cipherLen uint64) uint64 {
	return cipherLen - TagSize*((cipherLen+ChunkSize-1)/ChunkSize)
}

// ChunkLen is the ciphertext length of chunk idx of an object of cipherLen
// bytes.
func ChunkLen(idx, cipherLen uint64) int { return int(min(ChunkSize, cipherLen-idx*ChunkSize)) }

func chunkAEAD(key Key, nonce [16]byte, obj ObjectID, idx, chunks uint64) (a cipher.AEAD, nb, aad []byte) {
	a, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic(err) // the key is 32 bytes
	}
	nb = binary.BigEndian.AppendUint64(append([]byte(nil), nonce[:]...), idx)
	aad = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(append([]byte(nil), obj[:]...), idx), chunks)
	return a, nb, aad
}

// Seal encrypts plaintext chunk idx of chunks: XChaCha20-Poly1305 with the
// nonce nonce || uint64be(idx) and the associated data obj || uint64be(idx) ||
// uint64be(chunks), so chunks cannot be swapped, truncated or moved between
// objects.
func Seal(key Key, nonce [16]byte, obj ObjectID, idx, chunks uint64, plain []byte) []byte {
	a, nb, aad := chunkAEAD(key, nonce, obj, idx, chunks)
	return a.Seal(nil, nb, plain, aad)
}

// Open decrypts ciphertext chunk idx of chunks.
func Open(key Key, nonce [16]byte, obj ObjectID, idx, chunks uint64, ct []byte) ([]byte, error) {
	a, nb, aad := chunkAEAD(key, nonce, obj, idx, chunks)
	p, err := a.Open(nil, nb, ct, aad)
	if err != nil {
		return nil, fmt.Errorf("store: chunk %d does not decrypt: %w", idx, err)
	}
	return p, nil
}

// ChunkLeaves hashes ciphertext chunk idx into its segments' leaves.
func ChunkLeaves(idx uint64, ct []byte) []Hash {
	var leaves []Hash
	for i := 0; i < len(ct); i += SegmentSize {
		leaves = append(leaves, Leaf(idx*SegsPerChunk+uint64(i/SegmentSize), ct[i:min(i+SegmentSize, len(ct))]))
	}
	return leaves
}
