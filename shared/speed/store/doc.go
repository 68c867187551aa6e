// Package store is paid storage with proofs (M31), as docs/speed-protocol.md
// section 12 specifies: the wire of the BEP 10 extension "bt_store"
// (messages with Encode and Decode, caps checked before parsing), the
// requester's client-side encryption with keys from the wallet (Seal, Open),
// the Merkle tree over the ciphertext whose root the requester keeps (Tree,
// VerifyRange), challenges whose segments come from a fresh nonce
// (ChallengeIndices, BuildProof, VerifyProof), a provider that keeps
// ciphertext on disk under quotas and is paid per period and per retrieved
// chunk through Speed channels (Provider), and the requester's side of a
// connection (Client). Payments reuse package speed's channel states.
package store
