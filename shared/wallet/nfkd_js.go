//go:build js

package wallet

import "syscall/js"

// normalize is String.prototype.normalize.
var normalize = js.Global().Get("String").Get("prototype").Get("normalize")

// nfkd returns s in Unicode normalization form NFKD, as BIP39 asks of phrases
// and passphrases. In the browser (and Node) String.prototype.normalize does
// it, which keeps golang.org/x/text's normalization tables out of the wasm.
func nfkd(s string) string {
	return normalize.Call("call", s, "NFKD").String()
}
