//go:build !js

package wallet_test

import (
	"testing"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/fbsobreira/gotron-sdk/pkg/address"
	"github.com/fbsobreira/gotron-sdk/pkg/keys"
	"github.com/fbsobreira/gotron-sdk/pkg/keystore"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
)

// gotron-sdk is the Go TRON library the ledger's exchange will use; these
// tests check that keys, addresses, keystores and transaction signatures
// move between it and this package unchanged.

func TestGotronKeystoreReadsOurs(t *testing.T) {
	for range 3 {
		k, _ := wallet.GenerateKey()
		data, err := wallet.EncryptKeystore(k, []byte("pässword"), wallet.LightScrypt)
		if err != nil {
			t.Fatal(err)
		}
		key, err := keystore.DecryptKey(data, "pässword")
		if err != nil {
			t.Fatalf("gotron-sdk cannot read our keystore: %v", err)
		}
		if got := key.Address.String(); got != k.Address().String() {
			t.Fatalf("gotron-sdk address %s, ours %s", got, k.Address())
		}
		if _, err := keystore.DecryptKey(data, "password"); err == nil {
			t.Fatal("gotron-sdk accepted a wrong password")
		}
	}
}

func TestWeReadGotronKeystore(t *testing.T) {
	for range 3 {
		priv, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		key := &keystore.Key{Address: address.PubkeyToAddress(priv.PublicKey), PrivateKey: priv}
		data, err := keystore.EncryptKey(key, "s3cret", keystore.LightScryptN, keystore.LightScryptP)
		if err != nil {
			t.Fatal(err)
		}
		k, err := wallet.DecryptKeystore(data, []byte("s3cret"))
		if err != nil {
			t.Fatalf("we cannot read gotron-sdk's keystore: %v", err)
		}
		if k.Address().String() != key.Address.String() {
			t.Fatalf("address %s, gotron-sdk's %s", k.Address(), key.Address)
		}
	}
}

func TestGotronMnemonicDerivationAgrees(t *testing.T) {
	for i := range 4 {
		m, _ := wallet.NewMnemonic(12 + 12*(i%2))
		for _, pass := range []string{"", "extra words"} {
			idx := uint32(i * 7)
			ours, err := m.DeriveKey(pass, idx)
			if err != nil {
				t.Fatal(err)
			}
			priv, _ := keys.FromMnemonicSeedAndPassphrase(m.String(), pass, int(idx))
			theirs := address.PubkeyToAddress(*priv.PubKey().ToECDSA())
			if ours.Address().String() != theirs.String() {
				t.Fatalf("phrase %q index %d: we derive %s, gotron-sdk %s", m, idx, ours.Address(), theirs)
			}
		}
	}
}

func TestTransactionSignatureRecoversOwner(t *testing.T) {
	k, _ := wallet.GenerateKey()
	raw := &core.TransactionRaw{
		RefBlockBytes: []byte{1, 2},
		RefBlockHash:  []byte{1, 2, 3, 4, 5, 6, 7, 8},
		Expiration:    1_700_000_060_000,
		Timestamp:     1_700_000_000_000,
		FeeLimit:      10,
	}
	rawBytes, err := proto.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	id, sig := k.SignTransaction(rawBytes)
	tx := &core.Transaction{RawData: raw, Signature: [][]byte{sig[:]}}
	// A node recomputes the id from the deserialized transaction.
	again, _ := proto.Marshal(tx.GetRawData())
	if wallet.TransactionID(again) != id {
		t.Fatal("transaction id differs after a proto round trip")
	}
	s := append([]byte(nil), tx.Signature[0]...)
	s[64] -= 27
	pub, err := crypto.SigToPub(id[:], s)
	if err != nil {
		t.Fatal(err)
	}
	if address.PubkeyToAddress(*pub).String() != k.Address().String() {
		t.Fatal("signature does not recover the owner")
	}
}
