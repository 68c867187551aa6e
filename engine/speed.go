package engine

import (
	"github.com/btspeed/btspeed/shared/speed/choker"
)

// speedPeer is a connection's Speed state (nil for legacy peers).
type speedPeer struct{}

func (t *Torrent) speedHandshakeLocked(m map[string]int, h map[string]any) {}
func (t *Torrent) speedSentLocked(c *conn, r request)                      {}
func (t *Torrent) speedConnClosedLocked(c *conn)                           {}
func (t *Torrent) speedMayServeLocked(c *conn, r request) bool             { return true }
func (t *Torrent) speedMayStartLocked(c *conn, piece int) bool             { return true }
func (t *Torrent) speedReceivedLocked(c *conn, piece int, n uint64)        {}
func (t *Torrent) speedFailedLocked(c *conn, piece int)                    {}
func (t *Torrent) speedVerifiedLocked(c *conn, piece int)                  {}
func (t *Torrent) speedTickLocked()                                        {}
func (t *Torrent) speedExcludedLocked(c *conn) bool                        { return false }
func (t *Torrent) speedChokerPeerLocked(c *conn, p *choker.Peer)           {}
func (t *Torrent) speedReserveLocked() uint64                              { return 0 }
func (t *Torrent) speedGrantLocked(c *conn, d choker.Decision)             {}
func (t *Torrent) speedGotHandshakeLocked(c *conn, payload []byte)         {}
func (t *Torrent) speedMessageLocked(c *conn, payload []byte) error        { return nil }
