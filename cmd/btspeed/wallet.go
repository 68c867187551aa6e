package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/btspeed/btspeed/shared/wallet"
)

const envWallet = "BTSPEED_WALLET"

func runWallet(c *cli, args []string) error {
	return dispatch(c, "btspeed wallet", []command{
		{"init", "make btspeed's wallet in one step: a new phrase (or --restore), a password, installed", walletInit},
		{"new", "create a recovery phrase and print it with its address (installs nothing; see init)", walletNew},
		{"address", "print the address of a phrase (and index) or keystore", walletAddress},
		{"sign-message", "sign a message the way TronWeb's signMessageV2 does", walletSignMessage},
		{"verify-message", "check a TRON v2 message signature (exit 0 valid, 1 not)", walletVerifyMessage},
		{"keystore", "write, install and check password-protected keystore files", walletKeystore},
	}, args)
}

func walletNew(c *cli, args []string) error {
	fs := c.newFlags("new", "btspeed wallet new [--words 12|24] [--json]")
	words := fs.Int("words", 12, "number of words: 12 or 24")
	asJSON := fs.Bool("json", false, "print JSON: mnemonic, address, path")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *words != 12 && *words != 24 {
		return usageError{fmt.Sprintf("--words %d: use 12 or 24", *words)}
	}
	m, err := wallet.NewMnemonic(*words)
	if err != nil {
		return err
	}
	k, err := m.DeriveKey("", 0)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(c.out).Encode(struct {
			Mnemonic string         `json:"mnemonic"`
			Address  wallet.Address `json:"address"`
			Path     string         `json:"path"`
		}{m.String(), k.Address(), wallet.TronPath(0)})
	}
	fmt.Fprintf(c.out, "Recovery phrase (write it down and keep it secret; it is the only way to restore this wallet):\n\n  %s\n\nAddress: %s\nPath:    %s\n", m, k.Address(), wallet.TronPath(0))
	return nil
}

func walletAddress(c *cli, args []string) error {
	fs := c.newFlags("address", "btspeed wallet address (--mnemonic WORDS|- | --keystore FILE) [--index N]")
	var src keySource
	src.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	k, err := src.key(c)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, k.Address())
	return nil
}

func walletSignMessage(c *cli, args []string) error {
	fs := c.newFlags("sign-message", "btspeed wallet sign-message (--mnemonic WORDS|- | --keystore FILE) [--index N] --message TEXT")
	var src keySource
	src.register(fs)
	msg := fs.String("message", "", "the message to sign, as UTF-8 text")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !flagSet(fs, "message") {
		return usageError{"--message is required"}
	}
	k, err := src.key(c)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, k.SignMessage([]byte(*msg)).Hex())
	return nil
}

func walletVerifyMessage(c *cli, args []string) error {
	fs := c.newFlags("verify-message", "btspeed wallet verify-message --address T... --message TEXT --signature 0x...")
	addrText := fs.String("address", "", "the signer's address (T...)")
	msg := fs.String("message", "", "the signed message")
	sigText := fs.String("signature", "", "the 65-byte signature in hex")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, name := range []string{"address", "message", "signature"} {
		if !flagSet(fs, name) {
			return usageError{"--" + name + " is required"}
		}
	}
	addr, err := wallet.ParseAddress(*addrText)
	if err != nil {
		return err
	}
	sig, err := wallet.ParseSignature(*sigText)
	if err != nil {
		return err
	}
	switch err := wallet.VerifyMessage(addr, []byte(*msg), sig); {
	case err == nil:
		fmt.Fprintln(c.out, "valid")
		return nil
	case errors.Is(err, wallet.ErrSignatureMismatch), errors.Is(err, wallet.ErrMalformedSignature):
		fmt.Fprintln(c.out, "invalid:", err)
		return errFalse
	default:
		return err
	}
}

func walletKeystore(c *cli, args []string) error {
	return dispatch(c, "btspeed wallet keystore", []command{
		{"export", "write a phrase's key (or the installed wallet) to a new keystore file", keystoreExport},
		{"import", "check a keystore file from any TRON tool and install it as btspeed's wallet", keystoreImport},
		{"unlock", "check a keystore file's password and print its address", keystoreUnlock},
	}, args)
}

// defaultWalletPath is where btspeed keeps the installed wallet.
func (c *cli) walletPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p := c.getenv(envWallet); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no wallet location: %w (use --wallet or $%s)", err, envWallet)
	}
	return filepath.Join(dir, "btspeed", "wallet.json"), nil
}

func keystoreExport(c *cli, args []string) error {
	fs := c.newFlags("keystore export", "btspeed wallet keystore export --file FILE [--mnemonic WORDS|- [--index N]] [--light]")
	file := fs.String("file", "", "keystore file to create (never overwritten)")
	light := fs.Bool("light", false, "cheaper key derivation for small devices: 64 MiB scrypt, the web app's (default 256 MiB, geth's standard)")
	walletFlag := fs.String("wallet", "", "installed wallet to export when no phrase is given (default $"+envWallet+" or the user config dir)")
	var src keySource
	src.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{"--file is required"}
	}
	if src.keystore == "" && src.mnemonic == "" && c.getenv(envMnemonic) == "" {
		p, err := c.walletPath(*walletFlag)
		if err != nil {
			return err
		}
		src.keystore = p
	}
	k, err := src.key(c)
	if err != nil {
		return err
	}
	pw, err := c.password("New password: ", true)
	if err != nil {
		return err
	}
	params := wallet.StandardScrypt
	if *light {
		params = wallet.LightScrypt
	}
	data, err := wallet.EncryptKeystore(k, pw, params)
	if err != nil {
		return err
	}
	if err := wallet.CreateKeystoreFile(*file, data); err != nil {
		return err
	}
	fmt.Fprintln(c.out, k.Address())
	return nil
}

func keystoreImport(c *cli, args []string) error {
	fs := c.newFlags("keystore import", "btspeed wallet keystore import --file FILE [--wallet PATH]")
	file := fs.String("file", "", "keystore file to install")
	walletFlag := fs.String("wallet", "", "where to install it (default $"+envWallet+" or the user config dir)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{"--file is required"}
	}
	dst, err := c.walletPath(*walletFlag)
	if err != nil {
		return err
	}
	k, err := unlockFile(c, *file)
	if err != nil {
		return err
	}
	data, err := wallet.ReadKeystoreFile(*file)
	if err != nil {
		return err
	}
	if err := installKeystore(dst, data); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "%s\ninstalled as %s\n", k.Address(), dst)
	return nil
}

func keystoreUnlock(c *cli, args []string) error {
	fs := c.newFlags("keystore unlock", "btspeed wallet keystore unlock --file FILE")
	file := fs.String("file", "", "keystore file to check")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{"--file is required"}
	}
	k, err := unlockFile(c, *file)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, k.Address())
	return nil
}

// flagSet reports whether the flag was given, even as an empty string.
func flagSet(fs interface{ Visit(func(*flag.Flag)) }, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// installKeystore writes the keystore data as the wallet at dst, creating
// its directory (owner only) and refusing to overwrite a wallet there.
func installKeystore(dst string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("creating the wallet directory: %w", err)
	}
	return wallet.CreateKeystoreFile(dst, data)
}
