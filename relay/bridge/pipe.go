package bridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/time/rate"

	"github.com/btspeed/btspeed/engine/rtc"
)

// A BitTorrent handshake (BEP 3) is 68 bytes:
//
//	 0      1                    20         28             48          68
//	+------+--------------------+----------+--------------+-----------+
//	| 19   | "BitTorrent        | reserved | info hash    | peer id   |
//	|      |  protocol"         | (8)      | (20)         | (20)      |
//	+------+--------------------+----------+--------------+-----------+
const (
	handshakeLen  = 68
	infoHashStart = 28
	infoHashEnd   = 48
)

// protocolHeader is the start of every BitTorrent handshake.
var protocolHeader = []byte("\x13BitTorrent protocol")

// Why a bridged connection was cut during the handshakes (logged at debug).
var (
	errNotBitTorrent  = errors.New("bridge: not a BitTorrent handshake")
	errOtherTorrent   = errors.New("bridge: the handshake names another torrent")
	errPeerUnanswered = errors.New("bridge: the peer did not answer with a handshake in time")
)

// checkHandshake checks the first len(hs) bytes of a handshake for ih, so a
// wrong byte is caught as soon as it arrives.
func checkHandshake(hs []byte, ih [20]byte) error {
	if n := min(len(hs), len(protocolHeader)); !bytes.Equal(hs[:n], protocolHeader[:n]) {
		return errNotBitTorrent
	}
	if len(hs) > infoHashStart {
		n := min(len(hs), infoHashEnd)
		if !bytes.Equal(hs[infoHashStart:n], ih[:n-infoHashStart]) {
			return errOtherTorrent
		}
	}
	return nil
}

// readHandshake reads exactly one handshake for ih from c, by deadline, and
// not a byte more: what follows stays unread in c until the bridge copies.
func readHandshake(c net.Conn, ih [20]byte, deadline time.Time) ([]byte, error) {
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	hs := make([]byte, handshakeLen)
	for n := 0; n < handshakeLen; {
		m, err := c.Read(hs[n:])
		n += m
		if cerr := checkHandshake(hs[:n], ih); cerr != nil {
			return nil, cerr
		}
		if err != nil && n < handshakeLen {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return hs, nil
}

// pipe runs one bridged connection. It reads and checks the client's
// handshake, dials the peer and sends it that handshake alone, reads the
// peer's handshake and checks it names the same torrent, hands it to the
// client, and only then copies both ways until either side ends. A peer
// that is not a BitTorrent peer of the torrent gets 68 bytes of handshake
// and nothing else, and the client gets nothing of it.
func (b *Bridge) pipe(ctx context.Context, client net.Conn, tg target) error {
	hs, err := readHandshake(client, tg.ih, time.Now().Add(b.cfg.HandshakeTimeout))
	if err != nil {
		b.count(&b.stats.ClientHandshakesRefused)
		return fmt.Errorf("the client's handshake: %w", err)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var peer net.Conn
	if tg.network == "utp" {
		peer, err = b.cfg.DialUTP(dctx, tg.addr.String())
	} else {
		peer, err = b.cfg.Dial(dctx, "tcp", tg.addr.String())
	}
	cancel()
	if err != nil {
		return fmt.Errorf("dialling the peer: %w", err)
	}
	defer peer.Close()
	stop := context.AfterFunc(ctx, func() { peer.Close() })
	defer stop()
	deadline := time.Now().Add(b.cfg.HandshakeTimeout)
	peer.SetWriteDeadline(deadline)
	if _, err := peer.Write(hs); err != nil {
		return fmt.Errorf("sending the handshake to the peer: %w", err)
	}
	peer.SetWriteDeadline(time.Time{})
	phs, err := readHandshake(peer, tg.ih, deadline)
	if err != nil {
		b.count(&b.stats.PeerHandshakesRefused)
		if errors.Is(err, errNotBitTorrent) || errors.Is(err, errOtherTorrent) {
			return fmt.Errorf("the peer's handshake: %w", err)
		}
		return fmt.Errorf("%w: %w", errPeerUnanswered, err)
	}
	if _, err := client.Write(phs); err != nil {
		return fmt.Errorf("handing the peer's handshake to the client: %w", err)
	}
	done := make(chan struct{}, 2)
	go func() { b.copy(ctx, peer, client, b.limiter()); peer.Close(); done <- struct{}{} }()
	go func() { b.copy(ctx, client, peer, b.limiter()); client.Close(); done <- struct{}{} }()
	<-done
	<-done
	return nil
}

// count adds one to a counter of b.stats.
func (b *Bridge) count(c *uint64) {
	b.mu.Lock()
	*c++
	b.mu.Unlock()
}

// copyBuf is the most the bridge reads from one side before writing it to
// the other: a data channel's largest message (rtc.MessageSize), since each
// read is one message toward a browser and each message costs the browser's
// page an event (a bridged download of 64 MiB from Transmission came in
// 2,000 messages of 32 KiB before, 1,000 of 64 KiB now).
const copyBuf = rtc.MessageSize

// limiter paces one direction of a bridged connection at BytesPerSecond,
// in bursts of at most an eighth of a second's worth (and at least one
// read): however long the connection was idle, it never sends faster
// than that for longer.
func (b *Bridge) limiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(b.cfg.BytesPerSecond), max(copyBuf, b.cfg.BytesPerSecond/8))
}

// copy copies src to dst, paced by lim, until either fails or ctx ends.
func (b *Bridge) copy(ctx context.Context, dst io.Writer, src io.Reader, lim *rate.Limiter) {
	buf := make([]byte, copyBuf)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if lim.WaitN(ctx, n) != nil {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			b.mu.Lock()
			b.stats.Bytes += uint64(n)
			b.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}
