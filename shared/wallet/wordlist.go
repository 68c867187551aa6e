package wallet

import (
	_ "embed"
	"strings"
)

// bip39English is BIP39's English word list, byte for byte the english.txt of
// github.com/bitcoin/bips (CRC-32 c1dbd296). The wallet carries it itself
// rather than importing go-bip39's wordlists package, whose initialisation
// keeps all nine of its languages in the browser peer's wasm.
//
//go:embed bip39-english.txt
var bip39English string

// englishWords is the list in BIP39 order: index i encodes the 11 bits i.
var englishWords = strings.Fields(bip39English)
