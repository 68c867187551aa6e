package wallet

import "github.com/shengdoushi/base58"

func encodeBase58(b []byte) string { return base58.Encode(b, base58.BitcoinAlphabet) }
