package txcheck_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/btspeed/btspeed/tron/txcheck"
	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"google.golang.org/protobuf/proto"
)

// FuzzParseRaw: whatever the bytes, ParseRaw returns or errs without
// panicking, and what it accepts protobuf's own implementation reads the
// same way (no parser differential between what is checked and what a
// node executes).
func FuzzParseRaw(f *testing.F) {
	_, rawHex := built(f, nil)
	seed, _ := hex.DecodeString(rawHex)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := txcheck.ParseRaw(b)
		if err != nil {
			return
		}
		var pr core.TransactionRaw
		if err := proto.Unmarshal(b, &pr); err != nil {
			t.Fatalf("txcheck read what protobuf refuses (%v): %x", err, b)
		}
		if !bytes.Equal(r.RefBlockBytes, pr.RefBlockBytes) || r.RefBlockNum != pr.RefBlockNum || !bytes.Equal(r.RefBlockHash, pr.RefBlockHash) ||
			r.Expiration != pr.Expiration || r.Timestamp != pr.Timestamp || r.FeeLimit != pr.FeeLimit || !bytes.Equal(r.Data, pr.Data) ||
			!bytes.Equal(r.Scripts, pr.Scripts) || len(pr.Auths) != 0 || len(r.Contracts) != len(pr.Contract) {
			t.Fatalf("txcheck %+v, protobuf %v", r, &pr)
		}
		for i, c := range r.Contracts {
			pc := pr.Contract[i]
			if c.Type != int32(pc.Type) || c.PermissionID != pc.PermissionId || !bytes.Equal(c.Provider, pc.Provider) ||
				!bytes.Equal(c.ContractName, pc.ContractName) || c.TypeURL != pc.GetParameter().GetTypeUrl() || !bytes.Equal(c.Value, pc.GetParameter().GetValue()) {
				t.Fatalf("contract %d: txcheck %+v, protobuf %v", i, c, pc)
			}
			ta, err := txcheck.ParseTransferAsset(c.Value)
			if err != nil {
				continue
			}
			var pt core.TransferAssetContract
			if err := proto.Unmarshal(c.Value, &pt); err != nil {
				t.Fatalf("txcheck read a transfer protobuf refuses (%v)", err)
			}
			if !bytes.Equal(ta.AssetName, pt.AssetName) || !bytes.Equal(ta.Owner, pt.OwnerAddress) || !bytes.Equal(ta.To, pt.ToAddress) || ta.Amount != pt.Amount {
				t.Fatalf("transfer: txcheck %+v, protobuf %v", ta, &pt)
			}
		}
	})
}
