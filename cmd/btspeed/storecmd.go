package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

// 'btspeed store': paid storage with proofs (docs/speed-protocol.md section
// 12). The requester's records live in a state file; the data never does.

func runStore(c *cli, args []string) error {
	return dispatch(c, "btspeed store", []command{
		{"put", "encrypt a file and store it with a provider, paid per period", storePut},
		{"get", "get a stored object back, paying per chunk", storeGet},
		{"status", "list stored objects: contracts, last proof, paid so far, failures", storeStatus},
		{"check", "run the challenges that are due and pay the periods that passed", storeCheck},
		{"run", "keep checking: challenge at the planned times and pay, until interrupted", storeRun},
		{"end", "end a contract: no more periods are paid, the provider may delete the data", storeEnd},
		{"serve", "be a storage provider: keep others' encrypted data under a quota, for pay", storeServe},
	}, args)
}

// storeFlags are the flags every requester command shares.
type storeFlags struct {
	where
	wallet, state string
}

func (f *storeFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	f.where.register(fs, true, false)
	fs.StringVar(&f.wallet, "wallet", "", walletUsage("keystore to sign and derive storage keys with"))
	fs.StringVar(&f.state, "state", "", "the file of storage records (default $"+envStoreState+" or the user config dir's btspeed/store.json)")
}

// storeSession is what a requester command needs: the key, the ledger and the
// records.
type storeSession struct {
	key      *wallet.PrivateKey
	ledger   *client.Client
	ledgerID string
	state    *storeState
}

func (f *storeFlags) open(c *cli, ctx context.Context) (*storeSession, error) {
	key, err := c.unlockWallet(f.wallet)
	if err != nil {
		return nil, err
	}
	url := f.ledgerURL(c)
	lc := client.New(url, nil)
	info, err := lc.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger at %s: %w", url, err)
	}
	sp, err := c.storeStatePath(f.state)
	if err != nil {
		return nil, err
	}
	st, err := loadStoreState(sp)
	if err != nil {
		return nil, err
	}
	return &storeSession{key: key, ledger: lc, ledgerID: info.Ledger, state: st}, nil
}

// openRecord opens the session and finds the record of the object id
// names (its first 8 characters or more).
func (f *storeFlags) openRecord(c *cli, ctx context.Context, id string) (*storeSession, *store.Record, error) {
	s, err := f.open(c, ctx)
	if err != nil {
		return nil, nil, err
	}
	rec, err := s.state.find(id)
	if err != nil {
		return nil, nil, err
	}
	return s, rec, nil
}

func (s *storeSession) dial(ctx context.Context, addr string) (*store.Client, error) {
	cl, err := store.Dial(ctx, addr, s.key, s.ledger, s.ledgerID)
	if err != nil {
		return nil, human(err, "cannot reach the storage provider at %s: check the address, or try again later", addr)
	}
	return cl, nil
}

// refusedWords says a provider's refusal for people.
func refusedWords(err error) error {
	var r *store.RefusedError
	if !errors.As(err, &r) {
		return err
	}
	switch r.Why {
	case store.ReasonRate:
		return human(err, "the provider wants a higher price (%s): offer it with --price and --rate", r.Text)
	case store.ReasonQuota, store.ReasonTooLarge:
		return human(err, "the provider has no room for this file (%s): try another provider", r.Text)
	}
	return human(err, "the provider refused: %s", r.Text)
}

func storePut(c *cli, args []string) error {
	fs := c.newFlags("store put", "btspeed store put FILE --provider HOST:PORT [--period 24h] [--periods 30] [--price BTT] [--rate BTT]")
	var f storeFlags
	f.register(fs)
	provider := fs.String("provider", "", "the storage provider, HOST:PORT")
	period := fs.Duration("period", 24*time.Hour, "length of a paid period (1h to 720h)")
	periods := fs.Uint("periods", 30, "how many periods to store for (1 to 1000)")
	price := fs.String("price", "0", "BTT paid per period for this file, in arrears, only while the provider proves it holds it")
	rate := fs.String("rate", "0", "BTT per MiB paid to get the file back")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *provider == "" {
		return usageError{"give one FILE and --provider HOST:PORT"}
	}
	offer, err := storeOffer(*period, *periods, *price, *rate)
	if err != nil {
		return err
	}
	file, err := os.Open(pos[0])
	if err != nil {
		return human(err, "cannot read %s", pos[0])
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return human(err, "%s is not a file", pos[0])
	}
	ctx, cancel := interruptible()
	defer cancel()
	s, err := f.open(c, ctx)
	if err != nil {
		return err
	}
	cl, err := s.dial(ctx, *provider)
	if err != nil {
		return err
	}
	defer cl.Close()
	ct, err := cl.Put(file, uint64(fi.Size()), offer)
	if err != nil {
		return refusedWords(err)
	}
	ct.Provider = *provider
	s.state.Objects = append(s.state.Objects, &store.Record{Contract: ct, Name: filepath.Base(pos[0]), PlainLen: uint64(fi.Size())})
	if err := s.state.save(); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "stored %s (%d bytes, encrypted) with %s as object %s: %d periods of %s at %s BTT each, paid after each period it proves it holds the file\n",
		filepath.Base(pos[0]), fi.Size(), ct.Payee, ct.Obj, offer.Periods, *period, speed.FormatBTT(offer.Price))
	fmt.Fprintln(c.out, "keep 'btspeed store run' going (or run 'btspeed store check' now and then) to challenge and pay")
	return nil
}

func storeOffer(period time.Duration, periods uint, price, rate string) (store.Offer, error) {
	var o store.Offer
	if period < store.MinPeriod*time.Second || period > store.MaxPeriod*time.Second || period%time.Second != 0 {
		return o, usageError{fmt.Sprintf("--period %s: want whole seconds from 1h to 720h", period)}
	}
	if periods < 1 || periods > store.MaxPeriods {
		return o, usageError{fmt.Sprintf("--periods %d: want 1 to %d", periods, store.MaxPeriods)}
	}
	p, err := speed.ParseBTT(price)
	if err != nil {
		return o, usageError{fmt.Sprintf("--price %q: %v", price, err)}
	}
	r, err := speed.ParseBTT(rate)
	if err != nil || r > speed.MaxRate {
		return o, usageError{fmt.Sprintf("--rate %q: want BTT per MiB", rate)}
	}
	return store.Offer{Period: uint32(period / time.Second), Periods: uint32(periods), Price: p, Rate: r}, nil
}

func storeGet(c *cli, args []string) error {
	fs := c.newFlags("store get", "btspeed store get ID -o FILE")
	var f storeFlags
	f.register(fs)
	out := fs.String("o", "", "the file to write (not overwritten)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return usageError{"give the object ID and -o FILE"}
	}
	if _, err := os.Stat(*out); err == nil {
		return human(nil, "%s already exists: name another file with -o", *out)
	}
	ctx, cancel := interruptible()
	defer cancel()
	s, rec, err := f.openRecord(c, ctx, pos[0])
	if err != nil {
		return err
	}
	cl, err := s.dial(ctx, rec.Contract.Provider)
	if err != nil {
		return err
	}
	defer cl.Close()
	tmp := *out + ".part"
	w, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return human(err, "cannot write %s", tmp)
	}
	paid, err := cl.Get(ctx, rec.Contract, w)
	rec.Retrieved += paid
	err = errors.Join(err, w.Close(), s.state.save())
	if errors.Is(err, store.ErrTampered) {
		os.Remove(tmp)
		return human(err, "the provider sent data that is not what you stored; that chunk was not paid (%s BTT paid for the ones before): the copy there is damaged", speed.FormatBTT(paid))
	}
	if err != nil {
		os.Remove(tmp)
		return refusedWords(err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "got %s: %d bytes to %s, paid %s BTT\n", rec.Name, rec.PlainLen, *out, speed.FormatBTT(paid))
	return nil
}

func storeStatus(c *cli, args []string) error {
	fs := c.newFlags("store status", "btspeed store status [--json]")
	state := fs.String("state", "", "the file of storage records (default $"+envStoreState+" or the user config dir's btspeed/store.json)")
	asJSON := fs.Bool("json", false, "print the records as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := c.storeStatePath(*state)
	if err != nil {
		return err
	}
	st, err := loadStoreState(path)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(c.out).Encode(st.Objects)
	}
	if len(st.Objects) == 0 {
		fmt.Fprintln(c.out, "no stored objects: 'btspeed store put FILE --provider HOST:PORT' stores one")
	}
	for _, r := range st.Objects {
		printRecord(c.out, r)
	}
	return nil
}

// checkAll runs every record's due challenges and payments at now; it
// returns what went wrong with each in words, and saves the records.
func checkAll(c *cli, ctx context.Context, s *storeSession, now time.Time) error {
	var errs []string
	for _, r := range s.state.Objects {
		if !r.Due(now) {
			continue
		}
		cl, err := s.dial(ctx, r.Contract.Provider)
		if err == nil {
			err = r.Check(ctx, now, cl)
			cl.Close()
		} else {
			// No connection is a missing proof when a challenge is due.
			err = r.Check(ctx, now, unreachableProvider{err})
		}
		if r.Failure != nil {
			fmt.Fprintf(c.err, "btspeed: object %s: the provider failed a challenge and is paid no more: see 'btspeed store status'\n", r.Contract.Obj.String()[:16])
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("object %s: %v", r.Contract.Obj.String()[:16], err))
		}
	}
	if err := s.state.save(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// unreachableProvider answers no challenge and takes no payment.
type unreachableProvider struct{ err error }

func (u unreachableProvider) Challenge(store.Contract, uint32) (store.Hash, error, error) {
	return store.Hash{}, nil, u.err
}

func (u unreachableProvider) PayPeriod(context.Context, store.Contract, uint64) error { return u.err }

func storeCheck(c *cli, args []string) error {
	fs := c.newFlags("store check", "btspeed store check")
	var f storeFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	now, err := c.storeNow()
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	s, err := f.open(c, ctx)
	if err != nil {
		return err
	}
	if err := checkAll(c, ctx, s, now); err != nil {
		return err
	}
	for _, r := range s.state.Objects {
		printRecord(c.out, r)
	}
	return nil
}

func storeRun(c *cli, args []string) error {
	fs := c.newFlags("store run", "btspeed store run")
	var f storeFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	s, err := f.open(c, ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "checking %d stored objects at their planned times; Ctrl-C stops\n", len(s.state.Objects))
	for {
		if err := checkAll(c, ctx, s, time.Now()); err != nil {
			printError(c.err, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Minute):
		}
	}
}

func storeEnd(c *cli, args []string) error {
	fs := c.newFlags("store end", "btspeed store end ID")
	var f storeFlags
	f.register(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give the object ID"}
	}
	ctx, cancel := interruptible()
	defer cancel()
	s, rec, err := f.openRecord(c, ctx, pos[0])
	if err != nil {
		return err
	}
	rec.Ended = true
	if err := s.state.save(); err != nil {
		return err
	}
	cl, err := s.dial(ctx, rec.Contract.Provider)
	if err == nil {
		err = errors.Join(cl.End(rec.Contract), cl.Close())
	}
	if err != nil {
		fmt.Fprintf(c.err, "btspeed: the provider was not told (%v); nothing more will be paid anyway\n", err)
	}
	fmt.Fprintf(c.out, "ended the contract of %s: no more periods will be paid\n", rec.Name)
	return nil
}
