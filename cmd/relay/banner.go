package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/server/tronsetup"
)

// banner is what -banner prints for someone who has just started the relay
// on their own machine (./build.sh run): what runs, on the addresses
// actually bound, and what to try first.
type banner struct {
	url      string // http://ADDR the relay serves
	data     string // its data directory
	genesis  string // -genesis
	faucet   uint   // proof-of-work bits; 0: no faucet
	cfg      relay.Config
	tron     *tronsetup.TRON
	tronFlag string
	token    string // BTT's TRC-10 token id
	reserve  string // -reserve, BTT per MiB
	wallet   string // -wallet
	dht      string // "" when off
	proxy    string // the paid proxy's address; "" when off
	store    string // the storage provider's address; "" when off
}

func (b banner) print(w io.Writer, version string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	ws := "ws" + strings.TrimPrefix(b.url, "http")
	p("")
	p("btspeed %s", version)
	p("  relay    %s   (tracker: /announce and %s ; ledger gateway: /ledger/v1/info ; /metrics)", b.url, ws)
	switch {
	case b.cfg.Ledger == nil:
		p("  ledger   %s", b.cfg.LedgerURL)
	default:
		faucet := "faucet off"
		if b.faucet > 0 {
			faucet = fmt.Sprintf("faucet on (%d-bit proof of work)", b.faucet)
		}
		p("  ledger   embedded (%s), genesis %s, %s; data in %s", b.cfg.Ledger.Storage, b.genesis, faucet, b.data)
	}
	switch {
	case b.tron.Chain != nil:
		p("  tron     embedded devnet, BTT token %s: HTTP API %s/tron/wallet/..., gRPC %s", b.token, b.url, b.tron.GRPCAddr)
	case b.tronFlag != "off":
		p("  tron     %s", b.tronFlag)
	}
	if b.tron.Policy != nil {
		p("  exchange the ledger credits BTT sent on TRON to its exchange address (GET /ledger/v1/exchange) and sends withdrawals back")
	}
	for _, s := range b.cfg.Seed {
		if b.wallet == "" {
			p("  seeding  %s for free (no -wallet to earn for)", s)
			continue
		}
		p("  seeding  %s with Speed (reserve %s BTT/MiB), earning for %s", s, b.reserve, b.wallet)
	}
	if b.dht == "" {
		p("  dht      off: the relay joins no DHT, so the demo stays on this machine (BTSPEED_DHT=on ./build.sh run joins the public one)")
	} else {
		p("  dht      on at %s: the bridge looks up classic peers in the public BitTorrent DHT", b.dht)
	}
	relay := "" // the CLI's default relay is ./build.sh run's
	if b.url != "http://127.0.0.1:8080" {
		relay = " --relay " + b.url
	}
	devTRX := ""
	if b.tron.Chain != nil && b.tron.Policy != nil && b.cfg.Ledger != nil && b.faucet > 0 {
		devTRX = ", and 10 test TRX on TRON for fees"
	}
	p("  try      dist/btspeed wallet init && dist/btspeed faucet%s   (a wallet with test BTT%s)", relay, devTRX)
	p("           dist/btspeed get MAGNET --out /tmp%s   (the magnet link is printed below)", relay)
	if b.tron.Chain != nil {
		node := "" // the CLI's default node is the devnet's default address
		if b.tron.GRPCAddr != "127.0.0.1:50051" {
			node = " --node grpc://" + b.tron.GRPCAddr
		}
		p("           dist/btspeed ledger withdraw 5%s   (BTT to TRON), then: dist/btspeed ledger deposit 5%s%s", relay, relay, node)
	}
	if b.proxy != "" {
		p("  proxy    paid proxy on %s: dist/btspeed fetch https://example.com/file -o /tmp/file%s   (fetched by the relay, paid per chunk)", b.proxy, relay)
	}
	if b.store != "" {
		p("  storage  provider on %s: dist/btspeed store put FILE --provider %s   (encrypted here, proved and paid per period)", b.store, b.store)
	}
	p("Open %s/ in a browser: make a wallet, claim test BTT from the faucet, download the demo. Ctrl-C stops.", b.url)
	p("")
}
