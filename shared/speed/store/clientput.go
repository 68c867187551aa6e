package store

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"io"
)

// Offer is what a requester proposes besides the object.
type Offer struct {
	Period  uint32 // seconds
	Periods uint32
	Price   uint64 // base units per period for the object
	Rate    uint64 // retrieval, base units per MiB
}

// sealChunks encrypts src chunk by chunk and hands each ciphertext chunk to
// f; the plaintext is read once per call and never kept.
func sealChunks(src io.ReaderAt, size uint64, key Key, nonce [16]byte, obj ObjectID, f func(idx uint64, ct []byte) error) error {
	chunks := Chunks(size)
	buf := make([]byte, PlainChunkSize)
	for idx := range chunks {
		p := buf[:min(PlainChunkSize, size-idx*PlainChunkSize)]
		if n, err := src.ReadAt(p, int64(idx*PlainChunkSize)); n < len(p) {
			return fmt.Errorf("store: reading chunk %d: %w", idx, cmp.Or(err, io.ErrUnexpectedEOF))
		}
		if err := f(idx, Seal(key, nonce, obj, idx, chunks, p)); err != nil {
			return err
		}
	}
	return nil
}

// Put encrypts size bytes of src with a key from the wallet, proposes the
// object to the provider, uploads it with a path for every group and returns
// the contract once the provider's signed receipt arrives. It reads src
// twice (once for the tree, once to send) and keeps none of it.
func (cl *Client) Put(src io.ReaderAt, size uint64, offer Offer) (Contract, error) {
	var ct Contract
	if _, err := rand.Read(ct.Nonce[:]); err != nil {
		return ct, err
	}
	ct.Obj = NewObjectID(ct.Nonce, cl.key.Address())
	key, err := ObjectKey(StorageKey(cl.key), ct.Nonce)
	if err != nil {
		return ct, err
	}
	var leaves []Hash
	if err := sealChunks(src, size, key, ct.Nonce, ct.Obj, func(idx uint64, c []byte) error {
		leaves = append(leaves, ChunkLeaves(idx, c)...)
		return nil
	}); err != nil {
		return ct, err
	}
	tree := NewTree(leaves)
	ct.Terms = Terms{Root: tree.Root(), Length: CipherLen(size), Period: offer.Period, Periods: offer.Periods, Price: offer.Price, Rate: offer.Rate}
	if err := cl.propose(&ct); err != nil {
		return ct, err
	}
	if err := sealChunks(src, size, key, ct.Nonce, ct.Obj, func(idx uint64, c []byte) error {
		for off := 0; off < len(c); off += MaxBlock {
			seg := idx*SegsPerChunk + uint64(off/SegmentSize)
			if err := cl.c.Send(Put{Obj: ct.Obj, Seg: seg, Proof: tree.PutPath(seg), Data: c[off:min(off+MaxBlock, len(c))]}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return ct, err
	}
	m, err := cl.expect(ct.Obj, replyTimeout)
	if err != nil {
		return ct, err
	}
	stored, ok := m.(Stored)
	if !ok {
		return ct, fmt.Errorf("store: the provider answered the upload with %T", m)
	}
	if err := DomainStored.Verify(ct.Payee, StoredBytes(ct.Obj, ct.Terms.Root, stored.Start), stored.Sig); err != nil {
		return ct, fmt.Errorf("store: the provider's receipt: %w", err)
	}
	ct.Start, ct.StoredSig = stored.Start, stored.Sig
	return ct, nil
}

func (cl *Client) propose(ct *Contract) error {
	if err := cl.c.Send(Propose{Obj: ct.Obj, Nonce: ct.Nonce, Terms: ct.Terms}); err != nil {
		return err
	}
	m, err := cl.expect(ct.Obj, replyTimeout)
	if err != nil {
		return err
	}
	a, ok := m.(Accept)
	if !ok {
		return fmt.Errorf("store: the provider answered a proposal with %T", m)
	}
	if a.Payee != cl.c.Peer.Account || a.Ledger != cl.id {
		return fmt.Errorf("store: the provider names payee %s on %q, not its own account on %q", a.Payee, a.Ledger, cl.id)
	}
	if err := DomainContract.Verify(a.Payee, ContractBytes(ct.Obj, ct.Terms), a.Sig); err != nil {
		return fmt.Errorf("store: the provider's contract signature: %w", err)
	}
	ct.Payee, ct.Ledger, ct.MinTTL, ct.AcceptSig = a.Payee, a.Ledger, a.MinTTL, a.Sig
	ct.Provider = cl.c.RemoteAddr().String()
	return nil
}
