// Command btspeed is btspeed's command-line tool: the wallet today, and
// downloading and seeding torrents with BitTorrent Speed as the engine lands.
//
// Usage:
//
//	btspeed wallet new [--words 12|24] [--json]
//	btspeed wallet address (--mnemonic WORDS|- | --keystore FILE) [--index N]
//	btspeed wallet sign-message (--mnemonic WORDS|- | --keystore FILE) [--index N] --message TEXT
//	btspeed wallet verify-message --address T... --message TEXT --signature 0x...
//	btspeed wallet keystore export|import|unlock --file FILE
//
// Secrets stay out of shell history: the phrase can come from BTSPEED_MNEMONIC
// or standard input (--mnemonic -), passwords from BTSPEED_PASSWORD or a
// prompt that does not echo. Errors go to standard error with exit code 2.
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
