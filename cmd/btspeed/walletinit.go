package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/btspeed/btspeed/shared/wallet"
)

// walletInit makes btspeed's wallet in one step: a new recovery phrase (or
// the one given with --restore), a password, and the keystore installed
// where get, seed, faucet and ledger look for it.
func walletInit(c *cli, args []string) error {
	fset := c.newFlags("wallet init", "btspeed wallet init [--restore [--mnemonic WORDS|-]] [--words 12|24] [--wallet PATH]")
	restore := fset.Bool("restore", false, "restore from a recovery phrase (--mnemonic WORDS, --mnemonic - for standard input, or $"+envMnemonic+") instead of making a new one")
	words := fset.Int("words", 12, "words in a new phrase: 12 or 24")
	walletFlag := fset.String("wallet", "", "where to install it (default $"+envWallet+" or the user config dir)")
	var src keySource
	src.register(fset)
	if err := parse(fset, args); err != nil {
		return err
	}
	if *words != 12 && *words != 24 {
		return usageError{fmt.Sprintf("--words %d: use 12 or 24", *words)}
	}
	if src.keystore != "" {
		return usageError{"--keystore: to install a keystore file use 'btspeed wallet keystore import --file FILE'"}
	}
	dst, err := c.walletPath(*walletFlag)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("a wallet is already installed at %s: nothing was changed (use --wallet PATH for another one, or move it away first)", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking %s: %w", dst, err)
	}
	var phrase wallet.Mnemonic
	if *restore {
		if phrase, err = src.phrase(c); err != nil {
			return err
		}
	} else {
		if src.mnemonic != "" {
			return usageError{"--mnemonic goes with --restore"}
		}
		if phrase, err = wallet.NewMnemonic(*words); err != nil {
			return err
		}
	}
	src.mnemonic = phrase.String()
	k, err := src.key(c)
	if err != nil {
		return err
	}
	pw, err := c.password("New password for the wallet: ", true)
	if err != nil {
		return err
	}
	data, err := wallet.EncryptKeystore(k, pw, wallet.StandardScrypt)
	if err != nil {
		return err
	}
	if err := installKeystore(dst, data); err != nil {
		return err
	}
	if !*restore {
		fmt.Fprintf(c.out, "Recovery phrase (write it down and keep it secret; it is the only way to restore this wallet):\n\n  %s\n\n", phrase)
	}
	fmt.Fprintf(c.out, "Address: %s\nInstalled as %s (btspeed get, seed, faucet and ledger use it).\nTest BTT on a development ledger: btspeed faucet\n", k.Address(), dst)
	return nil
}
