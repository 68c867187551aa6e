package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/wallet"
)

// Contract is what a requester keeps of a stored object: about a hundred
// bytes besides the provider's signatures, never the data.
type Contract struct {
	Obj       ObjectID
	Nonce     [16]byte
	Terms     Terms
	Provider  string         // host:port of the provider
	Payee     wallet.Address // the provider's account
	Ledger    string
	MinTTL    uint32
	AcceptSig wallet.Signature // the provider's signature of the terms
	Start     uint64           // unix seconds: period 0 begins
	StoredSig wallet.Signature // the provider's receipt
}

// PeriodEnd is when period p ends.
func (c Contract) PeriodEnd(p uint64) time.Time {
	return time.Unix(int64(c.Start+(p+1)*uint64(c.Terms.Period)), 0)
}

// Timeouts of the requester.
const (
	ProofTimeout = 60 * time.Second // a challenge's answer (section 12.4)
	replyTimeout = 60 * time.Second // any other answer
)

// RefusedError is a provider's refusal.
type RefusedError struct{ Refused }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the provider refused (%s): %s", e.Why, e.Text)
}

// String names a reason.
func (r Reason) String() string {
	switch r {
	case ReasonQuota:
		return "quota"
	case ReasonTooLarge:
		return "too large"
	case ReasonRate:
		return "price"
	case ReasonUnknown:
		return "unknown object"
	case ReasonUnpaid:
		return "unpaid"
	case ReasonBadProof:
		return "bad proof"
	}
	return "other"
}

// Client is a requester's connection to a provider.
type Client struct {
	c      *Conn
	key    *wallet.PrivateKey
	ledger speed.Ledger
	id     string // the ledger id
}

// Dial connects to a provider at addr.
func Dial(ctx context.Context, addr string, key *wallet.PrivateKey, ledger speed.Ledger, ledgerID string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("store: connecting to the provider at %s: %w", addr, err)
	}
	cl, err := NewClient(nc, key, ledger, ledgerID)
	if err != nil {
		return nil, fmt.Errorf("store: provider at %s: %w", addr, err)
	}
	return cl, nil
}

// NewClient runs the handshakes on nc, a connection to a provider by any
// transport (TCP, or the relay's WebSocket for a browser), and returns the
// client; nc is closed on error.
func NewClient(nc net.Conn, key *wallet.PrivateKey, ledger speed.Ledger, ledgerID string) (*Client, error) {
	nc.SetDeadline(time.Now().Add(replyTimeout))
	c, err := Handshake(nc, speed.Handshake{Version: speed.Version, Account: key.Address(), Ledger: ledgerID})
	if err != nil {
		nc.Close()
		return nil, err
	}
	if c.Peer.Ledger != ledgerID {
		nc.Close()
		return nil, fmt.Errorf("store: the provider is paid on ledger %q, not %q", c.Peer.Ledger, ledgerID)
	}
	return &Client{c: c, key: key, ledger: ledger, id: ledgerID}, nil
}

// Close ends the connection gracefully: it stops sending and waits (at
// most replyTimeout) for the provider to close its side, which it does after
// closing the channels paid on the connection; so once Close returns, the
// ledger shows what the provider earned.
func (cl *Client) Close() error {
	if cl.c.CloseWrite() == nil {
		cl.c.SetDeadline(time.Now().Add(replyTimeout))
		for {
			if _, err := cl.c.Recv(); err != nil {
				break
			}
		}
	}
	return cl.c.Close()
}

// Peer is the provider's account.
func (cl *Client) Peer() wallet.Address { return cl.c.Peer.Account }

// expect reads the next message about obj within d; a refusal is a
// *RefusedError.
func (cl *Client) expect(obj ObjectID, d time.Duration) (Message, error) {
	cl.c.SetDeadline(time.Now().Add(d))
	for {
		m, err := cl.c.Recv()
		if err != nil {
			return nil, fmt.Errorf("store: waiting for the provider: %w", err)
		}
		if r, ok := m.(Refused); ok && (r.Obj == obj || r.Obj == ObjectID{}) {
			return nil, &RefusedError{r}
		}
		if objOf(m) == obj {
			return m, nil
		}
	}
}

func objOf(m Message) ObjectID {
	w, _ := m.toWire()
	return ObjectID(w.Obj)
}

// Challenge asks for k segments picked by a fresh nonce and checks the
// answer against the root. A nil error with a non-nil failure is a proof
// that failed; an error is a connection that broke (a missing proof).
func (cl *Client) Challenge(ct Contract, k uint32) (n Hash, failure error, err error) {
	if _, err := rand.Read(n[:]); err != nil {
		return n, nil, err
	}
	if err := cl.c.Send(Challenge{Obj: ct.Obj, N: n, K: k}); err != nil {
		return n, nil, err
	}
	m, err := cl.expect(ct.Obj, ProofTimeout)
	var refused *RefusedError
	if errors.As(err, &refused) {
		return n, refused, nil
	}
	if err != nil {
		return n, nil, err
	}
	proof, ok := m.(Proof)
	if !ok || proof.N != n {
		return n, fmt.Errorf("store: the provider answered %T", m), nil
	}
	return n, VerifyProof(ct.Terms.Root, ct.Terms.Length, n, k, proof.Body), nil
}

// openChannel opens a channel paying deposit to payee for at least two
// hours.
func (cl *Client) openChannel(ctx context.Context, ct Contract, deposit uint64) (speed.ChannelID, error) {
	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return speed.ChannelID{}, err
	}
	life := max(2*time.Hour, 2*time.Duration(ct.MinTTL)*time.Second)
	req := speed.OpenRequest{Ledger: cl.id, Payer: cl.key.Address(), Payee: ct.Payee, Deposit: deposit,
		Deadline: time.Now().Add(life).Unix(), Nonce: binary.BigEndian.Uint64(nb[:]) >> 1, Service: speed.ServiceStorage}
	signed, err := req.Sign(cl.key)
	if err != nil {
		return speed.ChannelID{}, err
	}
	ch, err := cl.ledger.OpenChannel(ctx, signed)
	if err != nil {
		return speed.ChannelID{}, fmt.Errorf("store: opening a channel of %s BTT: %w", speed.FormatBTT(deposit), err)
	}
	return ch.ID, nil
}

// pay sends a state and waits for its acknowledgement.
func (cl *Client) pay(ct Contract, what uint8, n uint64, st speed.State) error {
	sig, err := st.Sign(cl.key)
	if err != nil {
		return err
	}
	if err := cl.c.Send(Pay{Obj: ct.Obj, What: what, N: n, State: st, Sig: sig}); err != nil {
		return err
	}
	m, err := cl.expect(ct.Obj, replyTimeout)
	if err != nil {
		return err
	}
	if a, ok := m.(Paid); !ok || a.What != what || a.N != n || a.Seq != st.Seq {
		return fmt.Errorf("store: the provider answered a payment with %#v", m)
	}
	return nil
}

// PayPeriod pays period p's price through a channel of exactly that much,
// which the provider closes at once.
func (cl *Client) PayPeriod(ctx context.Context, ct Contract, p uint64) error {
	if ct.Terms.Price == 0 {
		return nil
	}
	ch, err := cl.openChannel(ctx, ct, ct.Terms.Price)
	if err != nil {
		return err
	}
	return cl.pay(ct, PayPeriod, p, speed.State{Channel: ch, Seq: 1, Paid: ct.Terms.Price})
}

// End ends the contract: no more periods will be paid.
func (cl *Client) End(ct Contract) error { return cl.c.Send(End{Obj: ct.Obj}) }

// readChunk collects chunk idx's blocks and its path.
func (cl *Client) readChunk(ct Contract, idx uint64) ([]byte, []Hash, error) {
	chunk := make([]byte, ChunkLen(idx, ct.Terms.Length))
	var path []Hash
	for got := 0; got < len(chunk); {
		m, err := cl.expect(ct.Obj, replyTimeout)
		if err != nil {
			return nil, nil, err
		}
		d, ok := m.(Data)
		if !ok || d.Index != idx || int(d.Offset) != got || got+len(d.Block) > len(chunk) {
			return nil, nil, fmt.Errorf("store: the provider sent %T out of order for chunk %d", m, idx)
		}
		if got == 0 {
			path = d.Proof
		}
		got += copy(chunk[got:], d.Block)
	}
	return chunk, path, nil
}

// ErrTampered is a retrieved chunk that does not match the root: it is not
// paid.
var ErrTampered = errors.New("store: the provider sent a chunk that does not match the object")

// Get retrieves the object chunk by chunk, checks each against the root,
// decrypts it to w and only then pays for it (section 12.4), through one
// channel of exactly the retrieval's price. It returns what it paid.
func (cl *Client) Get(ctx context.Context, ct Contract, w io.Writer) (uint64, error) {
	key, err := ObjectKey(StorageKey(cl.key), ct.Nonce)
	if err != nil {
		return 0, err
	}
	chunks := (ct.Terms.Length + ChunkSize - 1) / ChunkSize
	var total uint64
	for i := range chunks {
		total += speed.Price(ct.Terms.Rate, uint64(ChunkLen(i, ct.Terms.Length)))
	}
	var st speed.State
	if total > 0 {
		if st.Channel, err = cl.openChannel(ctx, ct, total); err != nil {
			return 0, err
		}
	}
	for idx := range chunks {
		if err := cl.c.Send(Get{Obj: ct.Obj, Index: idx}); err != nil {
			return st.Paid, err
		}
		chunk, path, err := cl.readChunk(ct, idx)
		if err != nil {
			return st.Paid, err
		}
		if err := VerifyChunk(ct.Terms.Root, ct.Terms.Length, idx, chunk, path); err != nil {
			return st.Paid, fmt.Errorf("chunk %d: %w", idx, ErrTampered)
		}
		plain, err := Open(key, ct.Nonce, ct.Obj, idx, chunks, chunk)
		if err != nil {
			return st.Paid, err
		}
		if _, err := w.Write(plain); err != nil {
			return st.Paid, fmt.Errorf("store: writing chunk %d: %w", idx, err)
		}
		if due := speed.Price(ct.Terms.Rate, uint64(len(chunk))); due > 0 {
			next := speed.State{Channel: st.Channel, Seq: st.Seq + 1, Paid: st.Paid + due}
			if err := cl.pay(ct, PayRetrieve, idx, next); err != nil {
				return st.Paid, err
			}
			st = next
		}
	}
	return st.Paid, nil
}
