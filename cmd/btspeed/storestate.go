package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/store"
)

const (
	envStoreState = "BTSPEED_STORE_STATE"
	// envStoreNow sets the storage commands' clock (unix seconds), so tests
	// drive contract periods without waiting; ledger deadlines keep the real
	// clock.
	envStoreNow = "BTSPEED_STORE_NOW"
)

// storeState is the requester's file of stored objects: contracts, plans,
// payments and failures; never data or keys.
type storeState struct {
	path    string
	Objects []*store.Record
}

func (c *cli) storeStatePath(flagValue string) (string, error) {
	if p := firstNonEmpty(flagValue, c.getenv(envStoreState)); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place for the storage records: %w (use --state or $%s)", err, envStoreState)
	}
	return filepath.Join(dir, "btspeed", "store.json"), nil
}

func loadStoreState(path string) (*storeState, error) {
	s := &storeState{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		err = json.Unmarshal(b, s)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the storage records %s: %w", path, err)
	}
	return s, nil
}

func (s *storeState) save() error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving the storage records: %w", err)
	}
	return os.Rename(tmp, s.path)
}

// find returns the record whose object id starts with id (at least 8 hex
// digits).
func (s *storeState) find(id string) (*store.Record, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	if len(id) < 8 {
		return nil, usageError{fmt.Sprintf("object id %q: give at least its first 8 characters (btspeed store status lists them)", id)}
	}
	var found *store.Record
	for _, r := range s.Objects {
		if strings.HasPrefix(r.Contract.Obj.String(), id) {
			if found != nil {
				return nil, usageError{fmt.Sprintf("object id %q names several objects: give more of it", id)}
			}
			found = r
		}
	}
	if found == nil {
		return nil, human(nil, "no stored object %s in %s: 'btspeed store status' lists them", id, s.path)
	}
	return found, nil
}

// storeNow is the storage commands' clock.
func (c *cli) storeNow() (time.Time, error) {
	v := c.getenv(envStoreNow)
	if v == "" {
		return time.Now(), nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("$%s %q: want unix seconds", envStoreNow, v)
	}
	return time.Unix(sec, 0), nil
}

func when(unix int64) string {
	if unix == 0 {
		return "never"
	}
	return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

// printRecord writes one object's status for people.
func printRecord(w io.Writer, r *store.Record) {
	ct := r.Contract
	period := time.Duration(ct.Terms.Period) * time.Second
	fmt.Fprintf(w, "%s  %s (%d bytes) with %s at %s\n", ct.Obj.String()[:16], r.Name, r.PlainLen, ct.Payee, ct.Provider)
	fmt.Fprintf(w, "  contract: %d periods of %s from %s, %s BTT a period, retrieval %s BTT per MiB\n",
		ct.Terms.Periods, period, when(int64(ct.Start)), speed.FormatBTT(ct.Terms.Price), speed.FormatBTT(ct.Terms.Rate))
	fmt.Fprintf(w, "  paid: %d of %d periods, %s BTT; retrieval %s BTT; last proof %s\n",
		len(r.PaidPeriod), ct.Terms.Periods, speed.FormatBTT(r.PaidTotal), speed.FormatBTT(r.Retrieved), when(r.LastProof))
	switch {
	case r.Failure != nil:
		fmt.Fprintf(w, "  FAILED: at %s the provider did not prove it still holds this object (period %d): %s.\n"+
			"  Payment has stopped for good. Get back what is left with 'btspeed store get %s -o FILE' and store the file with another provider.\n",
			when(r.Failure.Time), r.Failure.Period, r.Failure.Reason, ct.Obj.String()[:16])
	case r.Ended:
		fmt.Fprintln(w, "  ended: no more periods are paid")
	case len(r.PaidPeriod) == int(ct.Terms.Periods):
		fmt.Fprintln(w, "  done: every period proved and paid")
	default:
		next := int64(0)
		for _, c := range r.Plan {
			if !c.Done && (next == 0 || c.At < next) {
				next = c.At
			}
		}
		if next != 0 {
			fmt.Fprintf(w, "  next challenge: %s\n", when(next))
		}
	}
}
