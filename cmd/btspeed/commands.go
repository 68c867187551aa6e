package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one subcommand: its name, a one-line summary for help, and what
// it does with the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

// cli carries what every command needs: the standard streams and the
// environment.
type cli struct {
	stdio
	getenv func(string) string
}

// usageError is a mistake in how the command was called; it prints the
// command's usage after the message.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errFalse makes a command exit 1 without an error message of its own.
var errFalse = errors.New("false")

func topCommands() []command {
	return []command{
		{"wallet", "keys, recovery phrases, keystore files and message signatures", runWallet},
		{"get", "download a torrent (magnet link, .torrent file or URL), paying with Speed", runGet},
		{"seed", "make a torrent of a file or directory, print its magnet link and seed it, earning with Speed", runSeed},
		{"fetch", "download a URL through a paid proxy provider, paying per chunk, resuming where it stopped", runFetch},
		{"create-torrent", "make a .torrent of a file or directory", runCreateTorrent},
		{"ledger", "the ledger: balances, deposits from TRON and withdrawals to it", runLedger},
		{"faucet", "claim test BTT from a development ledger's faucet for the wallet", runFaucet},
		{"tron", "TRON: balances on chain", runTron},
		{"tracker", "ask trackers about a torrent", runTracker},
		{"store", "paid storage: keep files encrypted with a provider that proves it holds them", runStore},
		{"budget", "the budget that keeps a torrent available for N days (the swarm model)", runBudget},
		{"version", "print the version", func(c *cli, _ []string) error {
			fmt.Fprintln(c.out, "btspeed", version)
			return nil
		}},
	}
}

// version is set at build time by build.sh (-ldflags -X main.version=...).
var version = "dev"

func run(args []string, s stdio, getenv func(string) string) int {
	c := &cli{stdio: s, getenv: getenv}
	err := dispatch(c, "btspeed", topCommands(), args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFalse):
		return exitFalse
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	default:
		printError(c.err, err)
		return exitFailure
	}
}

// dispatch runs the subcommand named by args[0].
func dispatch(c *cli, prefix string, cmds []command, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printCommands(c.out, prefix, cmds)
		if len(args) == 0 {
			return usageError{"missing command"}
		}
		return nil
	}
	for _, cmd := range cmds {
		if cmd.name == args[0] {
			return cmd.run(c, args[1:])
		}
	}
	printCommands(c.err, prefix, cmds)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func printCommands(w io.Writer, prefix string, cmds []command) {
	fmt.Fprintf(w, "Usage: %s COMMAND [flags]\n\nCommands:\n", prefix)
	sorted := append([]command(nil), cmds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, cmd := range sorted {
		fmt.Fprintf(w, "  %-16s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND -h' for a command's flags.\n", prefix)
}

// newFlags returns a flag set that reports errors instead of exiting and
// prints its usage to standard error.
func (c *cli) newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.err)
	fs.Usage = func() {
		fmt.Fprintf(c.err, "Usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and refuses stray positional arguments, which are
// almost always a flag value that lost its quotes.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (quote values that contain spaces)", strings.Join(fs.Args(), " "))}
	}
	return nil
}
