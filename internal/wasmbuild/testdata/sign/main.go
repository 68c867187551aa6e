// Command sign derives the BIP39 test vector's TRON key, signs a message with it and recovers the signer:
// the wallet's base-point multiplications, for BlankTable's test to run in a blanked wasm under Node.
package main

import (
	"fmt"
	"os"

	"github.com/btspeed/btspeed/shared/wallet"
)

func main() {
	m, err := wallet.ParseMnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k, err := m.DeriveKey("", 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	msg := []byte("btspeed")
	signer, err := wallet.RecoverMessage(msg, k.SignMessage(msg))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(k.Address(), signer)
}
