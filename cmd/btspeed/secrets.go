package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/btspeed/btspeed/shared/wallet"
	"golang.org/x/term"
)

// Environment variables that carry secrets, so they stay out of shell
// history and process listings.
const (
	envMnemonic   = "BTSPEED_MNEMONIC"
	envPassphrase = "BTSPEED_PASSPHRASE" // the optional BIP39 passphrase
	envPassword   = "BTSPEED_PASSWORD"   // keystore password
)

// maxStdinSecret bounds what is read from standard input for a phrase.
const maxStdinSecret = 4 << 10

// keySource is how a command gets the key it signs with: a recovery phrase
// (and index) or a keystore file.
type keySource struct {
	mnemonic   string
	passphrase string
	index      uint
	keystore   string
}

func (k *keySource) register(fs interface {
	StringVar(*string, string, string, string)
	UintVar(*uint, string, uint, string)
}) {
	fs.StringVar(&k.mnemonic, "mnemonic", "", "recovery phrase, or - to read it from standard input (default $"+envMnemonic+")")
	fs.StringVar(&k.passphrase, "passphrase", "", "optional BIP39 passphrase (default $"+envPassphrase+")")
	fs.UintVar(&k.index, "index", 0, "address index i in m/44'/195'/0'/0/i")
	fs.StringVar(&k.keystore, "keystore", "", "keystore file to use instead of a phrase (password from $"+envPassword+" or a prompt)")
}

// key returns the key the flags select.
func (k *keySource) key(c *cli) (*wallet.PrivateKey, error) {
	if k.keystore != "" {
		if k.mnemonic != "" {
			return nil, usageError{"give --mnemonic or --keystore, not both"}
		}
		return unlockFile(c, k.keystore)
	}
	m, err := k.phrase(c)
	if err != nil {
		return nil, err
	}
	if k.index >= 1<<31 {
		return nil, usageError{fmt.Sprintf("--index %d: must be below 2^31", k.index)}
	}
	pass := k.passphrase
	if pass == "" {
		pass = c.getenv(envPassphrase)
	}
	return m.DeriveKey(pass, uint32(k.index))
}

// phrase returns the recovery phrase from --mnemonic, standard input or the
// environment.
func (k *keySource) phrase(c *cli) (wallet.Mnemonic, error) {
	text := k.mnemonic
	switch text {
	case "-":
		b, err := io.ReadAll(io.LimitReader(c.in, maxStdinSecret+1))
		if err != nil {
			return wallet.Mnemonic{}, fmt.Errorf("reading the phrase from standard input: %w", err)
		}
		if len(b) > maxStdinSecret {
			return wallet.Mnemonic{}, fmt.Errorf("standard input is longer than any recovery phrase")
		}
		text = string(b)
	case "":
		text = c.getenv(envMnemonic)
		if text == "" {
			return wallet.Mnemonic{}, usageError{"no recovery phrase: use --mnemonic WORDS, --mnemonic - (standard input) or $" + envMnemonic}
		}
	}
	return wallet.ParseMnemonic(text)
}

// walletUsage is the --wallet flag's help: what the keystore is for, then
// where it is by default and where its password comes from.
func walletUsage(what string) string {
	return what + " (default $" + envWallet + " or the installed wallet; password from $" + envPassword + " or a prompt)"
}

// unlockWallet unlocks the wallet at flagValue, else where walletPath
// finds it; a missing file is told with how to make one.
func (c *cli) unlockWallet(flagValue string) (*wallet.PrivateKey, error) {
	path, err := c.walletPath(flagValue)
	if err != nil {
		return nil, err
	}
	key, err := unlockFile(c, path)
	if err != nil {
		return nil, noWallet(err, path)
	}
	return key, nil
}

// unlockFile reads and decrypts a keystore file.
func unlockFile(c *cli, path string) (*wallet.PrivateKey, error) {
	data, err := wallet.ReadKeystoreFile(path)
	if err != nil {
		return nil, err
	}
	pw, err := c.password(fmt.Sprintf("Password for %s: ", path), false)
	if err != nil {
		return nil, err
	}
	k, err := wallet.DecryptKeystore(data, pw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// password returns $BTSPEED_PASSWORD, or asks on the terminal without echo;
// with confirm it asks twice and enforces the minimum length for new files.
func (c *cli) password(prompt string, confirm bool) ([]byte, error) {
	if pw := c.getenv(envPassword); pw != "" {
		if confirm && wallet.CheckNewPassword([]byte(pw)) != nil {
			return nil, fmt.Errorf("$%s is too short for a new keystore: set one of at least %d characters", envPassword, wallet.MinPasswordLen)
		}
		return []byte(pw), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, errors.New("the wallet's password is needed and there is no terminal to ask it in: set $" + envPassword + " or run btspeed in a terminal")
	}
	defer tty.Close()
	ask := func(p string) ([]byte, error) {
		fmt.Fprint(tty, p)
		pw, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, fmt.Errorf("reading password: %w", err)
		}
		return pw, nil
	}
	pw, err := ask(prompt)
	if err != nil {
		return nil, err
	}
	if !confirm {
		return pw, nil
	}
	if wallet.CheckNewPassword(pw) != nil {
		return nil, fmt.Errorf("the password is too short for a new keystore: choose one of at least %d characters", wallet.MinPasswordLen)
	}
	again, err := ask("Repeat password: ")
	if err != nil {
		return nil, err
	}
	if string(again) != string(pw) {
		return nil, errors.New("passwords do not match")
	}
	return pw, nil
}
