package engine

import (
	"errors"
	"fmt"
	"slices"
)

// A torrent moves from one Client to another without downloading or
// hashing again what it has: the browser peer runs a Client with Speed
// while the wallet is unlocked and one without while it is locked, and
// moves its torrents when the wallet changes. The caller reads InfoBytes
// and Verified of the torrent in the first Client, removes it there with
// its Storage kept open (Remove calls Storage.Close: the caller's Storage
// ignores it while moving), and adds it to the second with AddVerified on
// the same Storage.

// InfoBytes returns the torrent's bencoded info dictionary, nil before the
// info is known.
func (t *Torrent) InfoBytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.infoBytes)
}

// Verified returns which pieces are verified in the torrent's storage, nil
// before the info is known.
func (t *Torrent) Verified() []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lay == nil {
		return nil
	}
	out := make([]bool, t.lay.numPieces)
	for i := range out {
		out[i] = t.have.Get(i)
	}
	return out
}

// AddVerified adds a torrent as AddTorrent does, on a storage that already
// holds the pieces verified marks (Verified of the same torrent on the
// same storage in another Client): they are served at once and neither
// downloaded nor hashed again. spec needs InfoBytes and must not ask for a
// Check.
func (c *Client) AddVerified(spec TorrentSpec, verified []bool) (*Torrent, error) {
	if spec.InfoBytes == nil {
		return nil, errors.New("engine: AddVerified needs the torrent's InfoBytes")
	}
	if spec.Check {
		return nil, errors.New("engine: AddVerified with Check: the pieces are verified already")
	}
	return c.addTorrent(spec, slices.Clone(verified))
}

// markVerified sets the pieces verified marks, before the torrent starts.
func (t *Torrent) markVerified(verified []bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(verified) != t.lay.numPieces {
		return fmt.Errorf("engine: %d pieces marked verified of a torrent of %d", len(verified), t.lay.numPieces)
	}
	for i, ok := range verified {
		if ok {
			t.have.Set(i)
		}
	}
	if t.have.Full() {
		close(t.complete)
	}
	return nil
}
