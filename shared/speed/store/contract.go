package store

import (
	"encoding/binary"

	"github.com/btspeed/btspeed/shared/wallet"
)

// Signing domains of the provider's contract and receipt.
const (
	DomainContract wallet.Domain = "btspeed/storage/contract/v1"
	DomainStored   wallet.Domain = "btspeed/storage/stored/v1"
)

// ContractBytes is what the provider signs in Accept:
//
//	obj (32) | root (32) | len (8) | period (8) | periods (8) | price (8) | rate (8), integers big endian
func ContractBytes(obj ObjectID, t Terms) []byte {
	b := append(append([]byte(nil), obj[:]...), t.Root[:]...)
	for _, v := range []uint64{t.Length, uint64(t.Period), uint64(t.Periods), t.Price, t.Rate} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// StoredBytes is what the provider signs in Stored: obj | root | start (8).
func StoredBytes(obj ObjectID, root Hash, start uint64) []byte {
	b := append(append([]byte(nil), obj[:]...), root[:]...)
	return binary.BigEndian.AppendUint64(b, start)
}
