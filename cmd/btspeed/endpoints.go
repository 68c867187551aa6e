package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Where the services are. One relay URL names them all: the ledger behind
// its /ledger/ gateway, its HTTP tracker at /announce and, for a relay on
// this machine (./build.sh run), the TRON devnet's gRPC port. --ledger and
// --node (and their variables) override what the relay implies.
const (
	envRelay     = "BTSPEED_RELAY"
	envLedger    = "BTSPEED_LEDGER"
	envTron      = "BTSPEED_TRON"
	defaultRelay = "http://127.0.0.1:8080"  // what ./build.sh run starts
	devnetNode   = "grpc://127.0.0.1:50051" // the devnet ./build.sh run starts
)

// where holds the --relay, --ledger and --node flags of a command.
type where struct {
	relay, ledger, node string
}

// register adds --relay, --ledger when the command talks to the ledger, and
// --node when it talks to TRON.
func (w *where) register(fs interface {
	StringVar(*string, string, string, string)
}, ledger, node bool) {
	fs.StringVar(&w.relay, "relay", "", "the relay whose ledger (RELAY/ledger), tracker and TRON devnet to use (default $"+envRelay+" or "+defaultRelay+", the one ./build.sh run starts)")
	if ledger {
		fs.StringVar(&w.ledger, "ledger", "", "ledger URL (default $"+envLedger+", else the relay's RELAY/ledger)")
	}
	if node {
		fs.StringVar(&w.node, "node", "", "TRON node's gRPC API, grpc://HOST:PORT or grpcs://HOST:PORT (default $"+envTron+", else the devnet of a relay on this machine)")
	}
}

// relayURL is the relay in use, without a trailing slash.
func (w *where) relayURL(c *cli) string {
	return strings.TrimRight(firstNonEmpty(w.relay, firstNonEmpty(c.getenv(envRelay), defaultRelay)), "/")
}

// ledgerURL is the ledger in use.
func (w *where) ledgerURL(c *cli) string {
	return firstNonEmpty(w.ledger, firstNonEmpty(c.getenv(envLedger), w.relayURL(c)+"/ledger"))
}

// trackerURL is the relay's HTTP tracker.
func (w *where) trackerURL(c *cli) string { return w.relayURL(c) + "/announce" }

// nodeURL is the TRON node in use: --node, $BTSPEED_TRON, or the devnet
// beside a relay on this machine.
func (w *where) nodeURL(c *cli) (string, error) {
	if n := firstNonEmpty(w.node, c.getenv(envTron)); n != "" {
		return n, nil
	}
	relay := w.relayURL(c)
	u, err := url.Parse(relay)
	if err == nil {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
			return devnetNode, nil
		}
	}
	return "", fmt.Errorf("which TRON node? the relay %s is not on this machine, so its devnet is not at %s: give --node grpcs://HOST:PORT (or $%s)", relay, devnetNode, envTron)
}
