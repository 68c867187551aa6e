//go:build !js

package engine

import (
	"context"
	"errors"
)

// nativeHash is the browser's SHA-1 of a piece (piecehash_js.go); natively
// every piece is hashed by Go's as its blocks arrive.
type nativeHash struct{}

// nativePool keeps spare buffers for the browser's SHA-1 (none natively).
type nativePool struct{}

func (t *Torrent) newNativeHash(int64) nativeHash { return nativeHash{} }

func (*nativeHash) active() bool { return false }

func (*nativeHash) add(int64, []byte) bool { return false }

func (*nativeHash) verify(context.Context, [20]byte) (bool, error) {
	return false, errors.New("engine: no native SHA-1 outside the browser")
}
