//go:build js && !btspeed_embed

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/store"
	"github.com/btspeed/btspeed/webpeer"
)

// storeOptionsJS are client.store.put's options: BTT as decimal strings.
type storeOptionsJS struct {
	Price   string `json:"price"`   // BTT per period for the file
	Rate    string `json:"rate"`    // BTT per MiB retrieved
	Periods uint32 `json:"periods"` // default 30
	Period  uint32 `json:"period"`  // seconds, default a day
}

// storeRecordJS is a stored object for JavaScript: amounts in BTT, times
// in unix milliseconds.
type storeRecordJS struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Size      uint64 `json:"size"`
	Payee     string `json:"payee"`
	Start     int64  `json:"start"`
	Period    uint32 `json:"period"`
	Periods   uint32 `json:"periods"`
	Price     string `json:"price"`
	Rate      string `json:"rate"`
	Paid      string `json:"paid"`
	Retrieved string `json:"retrieved"`
	LastProof int64  `json:"lastProof"`
	Failure   string `json:"failure,omitempty"`
	Ended     bool   `json:"ended"`
}

func recordView(r store.Record) storeRecordJS {
	v := storeRecordJS{ID: r.Contract.Obj.String(), Name: r.Name, Size: r.PlainLen, Payee: r.Contract.Payee.String(),
		Start: int64(r.Contract.Start) * 1000, Period: r.Contract.Terms.Period, Periods: r.Contract.Terms.Periods,
		Price: speed.FormatBTT(r.Contract.Terms.Price), Rate: speed.FormatBTT(r.Contract.Terms.Rate),
		Paid: speed.FormatBTT(r.PaidTotal), Retrieved: speed.FormatBTT(r.Retrieved), LastProof: r.LastProof * 1000, Ended: r.Ended}
	if r.Failure != nil {
		v.Failure = r.Failure.Reason
	}
	return v
}

func (o storeOptionsJS) offer() (store.Offer, error) {
	off := store.Offer{Period: o.Period, Periods: o.Periods}
	if off.Period == 0 {
		off.Period = 24 * 3600
	}
	if off.Periods == 0 {
		off.Periods = 30
	}
	if off.Period < store.MinPeriod || off.Period > store.MaxPeriod || off.Periods > store.MaxPeriods {
		return off, fmt.Errorf("%w: period must be %d to %d seconds, periods at most %d", webpeer.ErrBadAmount, store.MinPeriod, store.MaxPeriod, store.MaxPeriods)
	}
	var err error
	if off.Price, err = optionalAmount(o.Price, "price"); err != nil {
		return off, err
	}
	if off.Rate, err = optionalAmount(o.Rate, "rate"); err != nil {
		return off, err
	}
	return off, nil
}

// storePut stores the bytes argument 1 (a Uint8Array) named argument 0 on
// the options JSON argument 2; it resolves to the record's JSON.
func (b binding) storePut(a args) any {
	name, raw := a.str(0), a.str(2)
	data := bytesOf(a.at(1))
	return promise(func() (any, error) {
		var in storeOptionsJS
		if raw != "" {
			if err := json.Unmarshal([]byte(raw), &in); err != nil {
				return nil, fmt.Errorf("store options: %w", err)
			}
		}
		o, err := in.offer()
		if err != nil {
			return nil, err
		}
		rec, err := b.p.StorePut(context.Background(), name, data, o)
		if err != nil {
			return nil, storeWords(err)
		}
		return toJSON(recordView(rec)), nil
	})
}

// storeGet gets object argument 0 back; it resolves to {record (JSON),
// bytes (a Uint8Array), paid (BTT)}.
func (b binding) storeGet(a args) any {
	id := a.str(0)
	return promise(func() (any, error) {
		rec, data, paid, err := b.p.StoreGet(context.Background(), id)
		if err != nil {
			return nil, storeWords(err)
		}
		u := js.Global().Get("Uint8Array").New(len(data))
		js.CopyBytesToJS(u, data)
		return js.ValueOf(map[string]any{"record": toJSON(recordView(rec)), "bytes": u, "paid": speed.FormatBTT(paid)}), nil
	})
}

// storeList resolves to the records' JSON.
func (b binding) storeList(args) any {
	return promise(func() (any, error) {
		out := []storeRecordJS{}
		for _, r := range b.p.StoreRecords() {
			out = append(out, recordView(r))
		}
		return toJSON(out), nil
	})
}

// storeCheck runs the challenges that are due and pays passed periods.
func (b binding) storeCheck(args) any {
	return promise(func() (any, error) { return nil, storeWords(b.p.StoreCheck(context.Background())) })
}

// storeWords gives storage errors words and a code (docs/js-api.md).
func storeWords(err error) error {
	if err == nil || errorCode(err) != "" {
		return err
	}
	var refused *store.RefusedError
	e := &fetchError{cause: err}
	switch {
	case errors.As(err, &refused) && refused.Why == store.ReasonRate:
		e.code, e.words = "over_price", "the relay's storage wants a higher price or rate: offer more"
	case errors.As(err, &refused) && (refused.Why == store.ReasonQuota || refused.Why == store.ReasonTooLarge):
		e.code, e.words = "too_large", "the relay's storage has no room for this file"
	case errors.As(err, &refused):
		e.code, e.words = "refused", "the relay's storage refused: "+refused.Text
	case errors.Is(err, store.ErrTampered):
		e.code, e.words = "tampered", "the relay sent data that is not what you stored; that chunk was not paid: its copy is damaged"
	default:
		e.code, e.words = "failed", "the relay's storage could not be reached, or the connection broke: check the network and try again"
	}
	return e
}
