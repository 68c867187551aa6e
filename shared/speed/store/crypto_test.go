package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// encrypt seals a whole plaintext and returns its ciphertext and tree.
func encrypt(t testing.TB, key Key, nonce [16]byte, obj ObjectID, plain []byte) ([]byte, *Tree) {
	t.Helper()
	chunks := Chunks(uint64(len(plain)))
	var ct []byte
	var leaves []Hash
	for i := range chunks {
		p := plain[i*PlainChunkSize : min(uint64(len(plain)), (i+1)*PlainChunkSize)]
		c := Seal(key, nonce, obj, i, chunks, p)
		leaves = append(leaves, ChunkLeaves(i, c)...)
		ct = append(ct, c...)
	}
	if uint64(len(ct)) != CipherLen(uint64(len(plain))) || PlainLen(uint64(len(ct))) != uint64(len(plain)) {
		t.Fatalf("lengths: %d bytes of ciphertext for %d", len(ct), len(plain))
	}
	return ct, NewTree(leaves)
}

// Known answers: the derivations of section 12.1 for the key 0x0101...01
// and the nonce 0x0202...02, so a change to a tag or an order shows.
func TestKeyDerivationKnownAnswers(t *testing.T) {
	k := testKey(t, 1)
	sk := StorageKey(k)
	nonce := [16]byte(bytes.Repeat([]byte{2}, 16))
	ok, err := ObjectKey(sk, nonce)
	if err != nil {
		t.Fatal(err)
	}
	id := NewObjectID(nonce, k.Address())
	for name, got := range map[string][]byte{"storage key": sk[:], "object key": ok[:], "object id": id[:]} {
		if want := knownAnswers[name]; hex.EncodeToString(got) != want {
			t.Errorf("%s: %x, want %s", name, got, want)
		}
	}
	other, _ := ObjectKey(StorageKey(testKey(t, 3)), nonce)
	if other == ok {
		t.Fatal("two wallets derive the same object key")
	}
}

// A ciphertext opens only with its key, index, chunk count and object; every
// ciphertext chunk is 256 KiB but the last; a flipped bit fails.
func TestSealOpen(t *testing.T) {
	sk := StorageKey(testKey(t, 1))
	nonce := [16]byte{9}
	key, _ := ObjectKey(sk, nonce)
	obj := NewObjectID(nonce, testKey(t, 1).Address())
	plain := bytes.Repeat([]byte("marker "), PlainChunkSize/7*2+100)
	ct, _ := encrypt(t, key, nonce, obj, plain)
	if ChunkLen(0, uint64(len(ct))) != ChunkSize || bytes.Contains(ct, []byte("marker marker")) {
		t.Fatal("chunk 0's length or plaintext in the ciphertext")
	}
	c1 := ct[ChunkSize : 2*ChunkSize]
	p, err := Open(key, nonce, obj, 1, 3, c1)
	if err != nil || !bytes.Equal(p, plain[PlainChunkSize:2*PlainChunkSize]) {
		t.Fatalf("open chunk 1: %v", err)
	}
	for name, open := range map[string]func() error{
		"another index":       func() error { _, err := Open(key, nonce, obj, 0, 3, c1); return err },
		"another chunk count": func() error { _, err := Open(key, nonce, obj, 1, 2, c1); return err },
		"another object":      func() error { _, err := Open(key, nonce, ObjectID{1}, 1, 3, c1); return err },
		"a flipped bit": func() error {
			bad := append([]byte(nil), c1...)
			bad[100] ^= 1
			_, err := Open(key, nonce, obj, 1, 3, bad)
			return err
		},
	} {
		if open() == nil {
			t.Errorf("%s opened", name)
		}
	}
}

// For objects of many lengths, every Put group and every chunk verifies
// against the root with its path, and a tampered chunk, a chunk at another
// index or another chunk's path does not.
func TestTreeProofs(t *testing.T) {
	for _, n := range []int{1, 100, SegmentSize, SegmentSize + 1, 3*SegmentSize + 5, 5 * SegmentSize, ChunkSize - 1, ChunkSize, 2*ChunkSize + 3*SegmentSize + 17, 5 * ChunkSize} {
		ct := bytes.Repeat([]byte{byte(n)}, n)
		for i := range ct {
			ct[i] ^= byte(i * 7)
		}
		leaves := make([]Hash, 0)
		for i := 0; i < n; i += SegmentSize {
			leaves = append(leaves, Leaf(uint64(i/SegmentSize), ct[i:min(i+SegmentSize, n)]))
		}
		tr := NewTree(leaves)
		root, length := tr.Root(), uint64(n)
		for seg := uint64(0); seg < Segments(length); seg += 4 {
			data := ct[seg*SegmentSize : min(uint64(n), (seg+4)*SegmentSize)]
			if err := VerifyPut(root, length, Put{Seg: seg, Data: data, Proof: tr.PutPath(seg)}); err != nil {
				t.Fatalf("length %d, put at %d: %v", n, seg, err)
			}
		}
		chunks := (length + ChunkSize - 1) / ChunkSize
		for idx := range chunks {
			c := ct[idx*ChunkSize : idx*ChunkSize+uint64(ChunkLen(idx, length))]
			if err := VerifyChunk(root, length, idx, c, tr.ChunkPath(idx)); err != nil {
				t.Fatalf("length %d, chunk %d: %v", n, idx, err)
			}
			bad := append([]byte(nil), c...)
			bad[len(bad)/2] ^= 0x80
			if err := VerifyChunk(root, length, idx, bad, tr.ChunkPath(idx)); !errors.Is(err, ErrBadProof) {
				t.Fatalf("length %d: a tampered chunk %d: %v", n, idx, err)
			}
			if chunks > 1 {
				other := (idx + 1) % chunks
				if err := VerifyChunk(root, length, idx, c, tr.ChunkPath(other)); !errors.Is(err, ErrBadProof) {
					t.Fatalf("length %d: chunk %d with the path of %d: %v", n, idx, other, err)
				}
			}
		}
	}
}

// A challenge's answer from the whole object verifies; from an object with
// half its segments zeroed, or with a wrong path, it does not.
func TestChallengeProof(t *testing.T) {
	sk := StorageKey(testKey(t, 1))
	nonce := [16]byte{5}
	key, _ := ObjectKey(sk, nonce)
	plain := bytes.Repeat([]byte("0123456789"), 100_000)
	ct, tr := encrypt(t, key, nonce, ObjectID{}, plain)
	length := uint64(len(ct))
	read := func(data []byte) SegmentReader {
		return func(i uint64) ([]byte, error) {
			return data[i*SegmentSize : i*SegmentSize+uint64(SegmentLen(i, length))], nil
		}
	}
	n := Hash{42}
	body, err := BuildProof(tr, length, n, DefaultK, read(ct))
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(tr.Root(), length, n, DefaultK, body); err != nil {
		t.Fatalf("an honest answer: %v", err)
	}
	if err := VerifyProof(tr.Root(), length, Hash{43}, DefaultK, body); !errors.Is(err, ErrBadProof) {
		t.Fatalf("an answer to another nonce: %v", err)
	}
	wrongPath := append([]byte(nil), body...)
	wrongPath[SegmentSize+3] ^= 1 // in the first segment's path
	if err := VerifyProof(tr.Root(), length, n, DefaultK, wrongPath); !errors.Is(err, ErrBadProof) {
		t.Fatalf("a wrong path: %v", err)
	}
	half := append([]byte(nil), ct...)
	for i := uint64(0); i < Segments(length); i += 2 {
		clear(half[i*SegmentSize : i*SegmentSize+uint64(SegmentLen(i, length))])
	}
	body, _ = BuildProof(tr, length, n, DefaultK, read(half))
	if err := VerifyProof(tr.Root(), length, n, DefaultK, body); !errors.Is(err, ErrBadProof) {
		t.Fatalf("half the data: %v", err)
	}
	if err := VerifyProof(tr.Root(), length, n, DefaultK, body[:100]); !errors.Is(err, ErrBadProof) {
		t.Fatalf("a short answer: %v", err)
	}
}

// knownAnswers: the storage and object keys were checked against Python's
// hmac and a hand-written HKDF (RFC 5869).
var knownAnswers = map[string]string{
	"storage key": "e33d442322f33698fa6ef04beed44da9306966f6873728c227a31b796c34db93",
	"object key":  "29a111103418f10718d5f4da866d88fa26f2e3c5df9e6516c25b5317789de620",
	"object id":   "05f7f72d1407b38f9fe39bcbe6cea5288bd779a817985542bb1a3ca9a4f998b9",
}
