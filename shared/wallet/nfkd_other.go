//go:build !js

package wallet

import "golang.org/x/text/unicode/norm"

// nfkd returns s in Unicode normalization form NFKD, as BIP39 asks of phrases
// and passphrases.
func nfkd(s string) string { return norm.NFKD.String(s) }
