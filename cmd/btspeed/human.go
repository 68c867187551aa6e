package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/shared/speed/proxy"
	"github.com/btspeed/btspeed/shared/wallet"
)

// personError is an error in words for people (what went wrong and what to
// do); the error under it, the technical cause, is printed on a second
// line ("cause: ...").
type personError struct {
	msg   string
	cause error
}

func (e *personError) Error() string { return e.msg }
func (e *personError) Unwrap() error { return e.cause }

// human says msg to people, keeping cause (may be nil) for the second line.
func human(cause error, format string, a ...any) error {
	return &personError{msg: fmt.Sprintf(format, a...), cause: cause}
}

// ledgerWords are the ledger's error codes (docs/ledger-api.md) in words for
// people.
var ledgerWords = map[string]string{
	api.CodeInsufficientFunds: "your ledger balance is too low for this: ask for less, claim test BTT with 'btspeed faucet', or deposit BTT from TRON with 'btspeed ledger deposit'",
	api.CodeReserve:           "the exchange cannot pay out that much right now: withdraw less, or try again later",
	api.CodeTooManyPending:    "you have too many withdrawals on their way: wait until one is done ('btspeed ledger withdraw' waits by default)",
	api.CodeBadRecipient:      "that is the exchange's own TRON address: withdraw to your own address (no --to) or another one",
	api.CodeNoExchange:        "this ledger has no exchange to TRON: deposits and withdrawals are off there",
	api.CodeFaucetEmpty:       "the faucet is empty: try again later, or deposit BTT from TRON",
	api.CodeRateLimited:       "too many requests from your network: wait a little, then try again",
	api.CodeUnavailable:       "the ledger could not save this just now: try again in a moment",
	api.CodeDevGenesis:        "this ledger holds test money on a real TRON network, so withdrawals are off: tell its operator",
	api.CodeBadSignature:      "the ledger did not accept the wallet's signature: check that --wallet is the wallet you meant",
	api.CodeWrongLedger:       "the request was signed for another ledger: check --relay or --ledger",
}

// refusalText says why a paid proxy provider refused a fetch
// (docs/speed-protocol.md section 11.3), for people.
var refusalText = map[proxy.Reason]string{
	proxy.ReasonBadURL:    "it does not accept that URL",
	proxy.ReasonForbidden: "the URL is not on the public Internet (private, loopback and link-local addresses, and redirects to them, are never fetched)",
	proxy.ReasonTooLarge:  "the file is larger than it fetches",
	proxy.ReasonOrigin:    "the origin server failed (no answer, an error status, no length): check the URL in a browser, then try again",
	proxy.ReasonBusy:      "it is busy: try again later or use another provider",
	proxy.ReasonRate:      "its price is above --max-price: raise it, or use another provider",
	proxy.ReasonUnpaid:    "a chunk is unpaid, or this wallet is banned there: use another provider",
}

// refusalWords is a provider's refusal reason in words.
func refusalWords(r proxy.Reason) string {
	if s, ok := refusalText[r]; ok {
		return s
	}
	return "for another reason (see the cause)"
}

// explain is err for people: its first line, and the technical cause for
// the second ("" when the first line says it all).
func explain(err error) (line, cause string) {
	var pe *personError
	if errors.As(err, &pe) {
		if pe.cause != nil {
			cause = pe.cause.Error()
		}
		return pe.msg, cause
	}
	if words, ok := ledgerWords[api.CodeOf(err)]; ok {
		return words, err.Error()
	}
	if errors.Is(err, wallet.ErrWrongPassword) {
		return "wrong password for the wallet: try again (the password comes from $" + envPassword + " or the prompt), or restore the wallet with 'btspeed wallet init --restore'", err.Error()
	}
	if unreachable(err) {
		return "cannot reach the relay or its ledger (is it running? './build.sh run' starts one): name another with --relay URL or $" + envRelay, err.Error()
	}
	return err.Error(), ""
}

// noWallet is err reading the wallet at path, in words for people when
// the file is missing.
func noWallet(err error, path string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return human(err, "there is no wallet at %s yet: make one with 'btspeed wallet init' (or name another with --wallet PATH)", path)
	}
	return err
}

// unreachable says whether err is a failure to connect (nothing listening,
// no such host, no route, a timeout).
func unreachable(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &de) || (errors.As(err, &oe) && oe.Op == "dial") || (errors.As(err, &ue) && ue.Timeout())
}

// printError writes err for people to w: "btspeed: LINE" and, when there is
// more to it, "cause: CHAIN".
func printError(w io.Writer, err error) {
	line, cause := explain(err)
	fmt.Fprintln(w, "btspeed:", line)
	if cause != "" && cause != line && !strings.Contains(line, cause) {
		fmt.Fprintln(w, "cause:", cause)
	}
}
