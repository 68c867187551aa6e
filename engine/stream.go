package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Prioritize makes the pieces covering n bytes at off the first the torrent
// starts, in order, replacing the previous window (a player's read-ahead).
// Before the info is known it does nothing.
func (t *Torrent) Prioritize(off, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prioritizeLocked(off, n)
	t.requestFromAllLocked()
}

func (t *Torrent) prioritizeLocked(off, n int64) {
	t.prio = t.prio[:0]
	if t.lay == nil || n <= 0 || off < 0 || off >= t.lay.total {
		return
	}
	end := min(off+n, t.lay.total)
	for i := off / t.lay.pieceLength; i*t.lay.pieceLength < end && len(t.prio) < 1024; i++ {
		t.prio = append(t.prio, int(i))
	}
}

// StreamAhead is how much of a streamed file (TorrentSpec.Stream) is
// requested first, before a read asks for it.
const StreamAhead = 8 << 20

// streamStartLocked makes the first StreamAhead bytes of the n at off the
// first pieces requested, with the piece holding the n's last byte second.
func (t *Torrent) streamStartLocked(off, n int64) {
	if n <= 0 || off < 0 || off >= t.lay.total {
		return
	}
	n = min(n, t.lay.total-off)
	t.prioritizeLocked(off, min(n, StreamAhead))
	last := int((off + n - 1) / t.lay.pieceLength)
	if i := slices.Index(t.prio, last); i > 1 {
		t.prio = slices.Delete(t.prio, i, i+1)
	} else if i >= 0 || len(t.prio) == 0 {
		return
	}
	t.prio = slices.Insert(t.prio, 1, last)
}

// ReadAt reads len(p) bytes of the torrent's content at off, waiting until
// the pieces holding them are verified; it makes them (and readAhead bytes
// after them) the first pieces downloaded. It fails when ctx ends, the
// torrent stops, or off is outside the content.
func (t *Torrent) ReadAt(ctx context.Context, p []byte, off, readAhead int64) (int, error) {
	select {
	case <-t.gotInfo:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.ctx.Done():
		return 0, ErrClosed
	}
	for {
		t.mu.Lock()
		if t.err != nil {
			err := t.err
			t.mu.Unlock()
			return 0, err
		}
		if off < 0 || off >= t.lay.total {
			t.mu.Unlock()
			return 0, fmt.Errorf("engine: read at %d: outside the torrent's %d bytes", off, t.lay.total)
		}
		n := min(int64(len(p)), t.lay.total-off)
		first, last := int(off/t.lay.pieceLength), int((off+n-1)/t.lay.pieceLength)
		ready := true
		for i := first; i <= last; i++ {
			if !t.have.Get(i) {
				ready = false
				break
			}
		}
		if ready {
			st := t.st
			t.mu.Unlock()
			got, err := st.ReadAt(p[:n], off)
			if err != nil && !errors.Is(err, context.Canceled) && got < int(n) {
				return got, fmt.Errorf("engine: reading storage: %w", err)
			}
			return got, nil
		}
		t.prioritizeLocked(off, n+max(readAhead, 0))
		t.requestFromAllLocked()
		if t.verified == nil {
			t.verified = make(chan struct{})
		}
		wait := t.verified
		t.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.ctx.Done():
			return 0, ErrClosed
		}
	}
}
