package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// The commitment (docs/speed-protocol.md section 12.2): a Merkle tree over
// the ciphertext's 4 KiB segments. Leaf i = sha256(0x00 || uint64be(i) ||
// segment i); node = sha256(0x01 || left || right); the last node of a level
// with an odd count is promoted unchanged. A node at level L, index j covers
// segments j·2^L up to (j+1)·2^L, so an aligned group of 2^L segments (a Put's
// 4, a chunk's 64) is checked with the path of its node.

// Levels of the groups the protocol proves.
const (
	putLevel   = 2 // 4 segments: a Put
	chunkLevel = 6 // 64 segments: a ciphertext chunk
)

// ErrBadProof is a segment, chunk or path that does not hash to the root.
var ErrBadProof = errors.New("store: proof does not match the root")

// Leaf hashes segment i.
func Leaf(i uint64, seg []byte) Hash {
	h := sha256.New()
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], i)
	h.Write(b[:])
	h.Write(seg)
	return Hash(h.Sum(nil))
}

func node(l, r Hash) Hash {
	var b [65]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// Segments is how many segments an object of length bytes has.
func Segments(length uint64) uint64 { return (length + SegmentSize - 1) / SegmentSize }

// SegmentLen is the length of segment i of an object of length bytes.
func SegmentLen(i, length uint64) int {
	return int(min(SegmentSize, length-i*SegmentSize))
}

// Tree is a whole Merkle tree, level 0 the leaves.
type Tree struct{ levels [][]Hash }

// NewTree builds the tree over leaves (at least one).
func NewTree(leaves []Hash) *Tree {
	t := &Tree{levels: [][]Hash{leaves}}
	for cur := leaves; len(cur) > 1; {
		next := make([]Hash, 0, (len(cur)+1)/2)
		for i := 0; i < len(cur); i += 2 {
			if i+1 < len(cur) {
				next = append(next, node(cur[i], cur[i+1]))
			} else {
				next = append(next, cur[i])
			}
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	return t
}

// Root is the tree's root.
func (t *Tree) Root() Hash { return t.levels[len(t.levels)-1][0] }

// Path is the siblings of node j at level, bottom up, skipping promoted
// nodes' missing siblings.
func (t *Tree) Path(level int, j uint64) []Hash {
	var path []Hash
	for m := level; m < len(t.levels)-1; m++ {
		if sib := j ^ 1; sib < uint64(len(t.levels[m])) {
			path = append(path, t.levels[m][sib])
		}
		j >>= 1
	}
	return path
}

// groupRoot hashes the segments of one aligned group, the first being
// segment first, up to a single node: the group's node in the whole tree.
func groupRoot(first uint64, segs [][]byte) Hash {
	leaves := make([]Hash, len(segs))
	for i, s := range segs {
		leaves[i] = Leaf(first+uint64(i), s)
	}
	return NewTree(leaves).Root()
}

// verifyPath checks that h, the node j at level of the tree over n segments,
// leads with path to root.
func verifyPath(root Hash, n uint64, level int, j uint64, h Hash, path []Hash) error {
	size := n
	for range level {
		size = (size + 1) / 2
	}
	if j >= size {
		return fmt.Errorf("%w: node %d of %d at level %d", ErrBadProof, j, size, level)
	}
	for ; size > 1; size = (size + 1) / 2 {
		if sib := j ^ 1; sib < size {
			if len(path) == 0 {
				return fmt.Errorf("%w: path too short", ErrBadProof)
			}
			if j&1 == 0 {
				h = node(h, path[0])
			} else {
				h = node(path[0], h)
			}
			path = path[1:]
		}
		j >>= 1
	}
	if len(path) != 0 || h != root {
		return ErrBadProof
	}
	return nil
}

// split cuts data, starting at segment first of an object of length bytes,
// into its segments; it fails unless data is exactly a group of 2^level
// segments (or the object's tail).
func split(first uint64, level int, data []byte, length uint64) ([][]byte, error) {
	nseg := Segments(length)
	want := uint64(1) << level
	if first%want != 0 || first >= nseg {
		return nil, fmt.Errorf("%w: a group at segment %d", ErrBadProof, first)
	}
	end := min(first+want, nseg)
	if size := length - first*SegmentSize; uint64(len(data)) != min(size, (end-first)*SegmentSize) {
		return nil, fmt.Errorf("%w: %d bytes at segment %d", ErrBadProof, len(data), first)
	}
	var segs [][]byte
	for len(data) > 0 {
		n := min(SegmentSize, len(data))
		segs = append(segs, data[:n])
		data = data[n:]
	}
	return segs, nil
}

// VerifyGroup checks data, the aligned group of 2^level segments starting at
// segment first of an object of length bytes, against root with path.
func VerifyGroup(root Hash, length uint64, level int, first uint64, data []byte, path []Hash) error {
	segs, err := split(first, level, data, length)
	if err != nil {
		return err
	}
	return verifyPath(root, Segments(length), level, first>>level, groupRoot(first, segs), path)
}

// VerifyPut checks a Put against the contract's root and length.
func VerifyPut(root Hash, length uint64, m Put) error {
	return VerifyGroup(root, length, putLevel, m.Seg, m.Data, m.Proof)
}

// VerifyChunk checks ciphertext chunk idx with its path.
func VerifyChunk(root Hash, length uint64, idx uint64, chunk []byte, path []Hash) error {
	return VerifyGroup(root, length, chunkLevel, idx*SegsPerChunk, chunk, path)
}

// PutPath and ChunkPath are the paths a requester sends with a Put and a
// provider with a chunk.
func (t *Tree) PutPath(seg uint64) []Hash   { return t.Path(putLevel, seg>>putLevel) }
func (t *Tree) ChunkPath(idx uint64) []Hash { return t.Path(chunkLevel, idx) }

// ChallengeIndices are the k segments nonce n picks in an object of nseg
// segments: sha256(n || uint64be(j)) mod nseg for j < k.
func ChallengeIndices(n Hash, k uint32, nseg uint64) []uint64 {
	out := make([]uint64, k)
	mod := new(big.Int).SetUint64(nseg)
	for j := range out {
		b := append(append([]byte(nil), n[:]...), binary.BigEndian.AppendUint64(nil, uint64(j))...)
		h := sha256.Sum256(b)
		out[j] = new(big.Int).Mod(new(big.Int).SetBytes(h[:]), mod).Uint64()
	}
	return out
}

// SegmentReader reads segment i of a stored object.
type SegmentReader func(i uint64) ([]byte, error)

// BuildProof answers a challenge: for each picked segment, the segment then
// its path. The segments come from read, so a provider without them cannot
// answer; the tree is the provider's own.
func BuildProof(t *Tree, length uint64, n Hash, k uint32, read SegmentReader) ([]byte, error) {
	var body []byte
	for _, i := range ChallengeIndices(n, k, Segments(length)) {
		seg, err := read(i)
		if err != nil {
			return nil, fmt.Errorf("store: reading segment %d: %w", i, err)
		}
		body = append(body, seg...)
		body = append(body, hashesBytes(t.Path(0, i))...)
	}
	return body, nil
}

// VerifyProof checks a challenge's answer against the root the requester
// keeps: every picked segment, at its length, with its path.
func VerifyProof(root Hash, length uint64, n Hash, k uint32, body []byte) error {
	nseg := Segments(length)
	for j, i := range ChallengeIndices(n, k, nseg) {
		sl := SegmentLen(i, length)
		if len(body) < sl {
			return fmt.Errorf("%w: the answer stops at segment %d (%d of %d)", ErrBadProof, i, j+1, k)
		}
		seg := body[:sl]
		body = body[sl:]
		// A path has one hash per level where the node has a sibling.
		np := 0
		jj, size := i, nseg
		for ; size > 1; size = (size + 1) / 2 {
			if jj^1 < size {
				np++
			}
			jj >>= 1
		}
		if len(body) < 32*np {
			return fmt.Errorf("%w: the answer stops in the path of segment %d", ErrBadProof, i)
		}
		path, _ := hashesFromWire(body[:32*np])
		body = body[32*np:]
		if err := verifyPath(root, nseg, 0, i, Leaf(i, seg), path); err != nil {
			return fmt.Errorf("segment %d (%d of %d): %w", i, j+1, k, err)
		}
	}
	if len(body) != 0 {
		return fmt.Errorf("%w: %d bytes after the last segment", ErrBadProof, len(body))
	}
	return nil
}
