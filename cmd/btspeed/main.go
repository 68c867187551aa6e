// Command btspeed is btspeed's command-line tool: the wallet, and
// downloading and seeding torrents with BitTorrent Speed.
//
// Usage:
//
//	btspeed wallet init [--restore [--mnemonic WORDS|-]] [--words 12|24]
//	btspeed wallet new [--words 12|24] [--json]
//	btspeed wallet address (--mnemonic WORDS|- | --keystore FILE) [--index N]
//	btspeed wallet sign-message (--mnemonic WORDS|- | --keystore FILE) [--index N] --message TEXT
//	btspeed wallet verify-message --address T... --message TEXT --signature 0x...
//	btspeed wallet keystore export|import|unlock --file FILE
//	btspeed get MAGNET|FILE.torrent|URL [--out DIR] [--peer HOST:PORT ...] [--speed on|off|auto] [--budget BTT] [--max-price BTT_PER_GIB]
//	btspeed seed FILE|DIR [--tracker URL ...] [--reserve BTT_PER_MIB] [--torrent-out FILE] [--upload-limit RATE]
//	btspeed fetch URL [-o FILE] [--provider HOST:PORT] [--max-price BTT_PER_GIB] [--budget BTT] [--restart]
//	btspeed faucet [--relay URL]
//	btspeed create-torrent PATH [--out FILE] [--tracker URL ...] [--web-seed URL ...]
//
// get and seed use BitTorrent Speed when a wallet is installed (or --speed
// on): they pay and are paid through the ledger at --ledger (default
// $BTSPEED_LEDGER, else the relay's: --relay or $BTSPEED_RELAY, default the
// one ./build.sh run starts, http://127.0.0.1:8080). Ctrl-C stops them
// cleanly: the providers' channels are closed on the ledger first.
//
// fetch downloads a URL through a paid proxy provider (the relay's, or
// --provider), paying per chunk received; run again, it resumes at the next
// chunk from the progress file beside the output (FILE.btspeed-fetch).
//
// Secrets stay out of shell history: the phrase can come from BTSPEED_MNEMONIC
// or standard input (--mnemonic -), passwords from BTSPEED_PASSWORD or a
// prompt that does not echo. Errors go to standard error with exit code 2:
// a first line for people (what went wrong, what to do) and, when there is
// more, a second line "cause: ..." with the technical chain.
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Getenv))
}

// stdio is the process's standard streams, passed in so tests can run
// commands in-process.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// Exit codes.
const (
	exitOK      = 0
	exitFalse   = 1 // a check ran and said no (verify-message)
	exitFailure = 2 // bad input or an error
)
