// Package wallet holds everything btspeed does with a user's keys: secp256k1
// key pairs, TRON addresses, BIP39 recovery phrases with the TRON derivation
// path, the password-protected keystore file, and signing.
//
// One key is both a ledger account and a TRON account (mechanics M24, M28):
//
//   - Addresses are TRON's: 0x41 followed by the last 20 bytes of
//     keccak256(uncompressed public key without its 0x04 prefix), written in
//     base58check ("T...").
//   - Recovery phrases are BIP39 (12 or 24 English words, checksum checked,
//     optional passphrase) and keys are derived with BIP32 along TRON's BIP44
//     path m/44'/195'/0'/0/i, so a phrase restores the same addresses in
//     TronLink, TronWeb and every other TRON wallet.
//   - The keystore is Web3 Secret Storage v3 JSON (scrypt, AES-128-CTR and a
//     keccak256 MAC), the format gotron-sdk's keystore reads and writes.
//   - Signatures are 65 bytes R||S||V over one of three digests that can never
//     coincide: TRON message signing v2 (TIP-191), TRON transactions
//     (sha256 of raw_data), and btspeed's own domain-separated structures
//     (see Domain), so a signature made for one purpose proves nothing in
//     another.
//
// The package is pure Go where it has to be: it builds and passes its tests
// under GOOS=js GOARCH=wasm. Natively, go-ethereum's crypto package uses
// libsecp256k1 through cgo, which makes signature recovery about four times
// faster; that matters to the ledger, which verifies every request. In the
// browser (secp_js.go) the same operations run on decred's secp256k1 directly,
// as go-ethereum's pure-Go path does, without pulling go-ethereum into the
// wasm; a test checks them against go-ethereum byte for byte.
package wallet
