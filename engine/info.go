package engine

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"math"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// ErrBadInfo is wrapped by errors about a torrent's info dictionary:
// malformed, inconsistent, or of a kind the engine does not handle.
var ErrBadInfo = errors.New("bad torrent info")

// Limits on the torrents the engine accepts.
const (
	maxPieceLength = 64 << 20
	maxPieces      = 1 << 21
	maxTotalLength = 1 << 50
)

// layout is a validated view of an info dictionary: what the engine needs
// to address pieces and blocks, computed once, never panicking on hostile
// input (metainfo's helpers panic on inconsistent infos).
type layout struct {
	info        *metainfo.Info
	pieceLength int64
	total       int64
	numPieces   int
	hashes      []byte // 20 bytes per piece
}

// parseInfo decodes and validates an info dictionary whose SHA-1 must be ih.
func parseInfo(infoBytes []byte, ih metainfo.Hash) (*layout, error) {
	if len(infoBytes) > MaxMetadataSize {
		return nil, fmt.Errorf("%w: %d bytes of metadata (limit %d)", ErrBadInfo, len(infoBytes), MaxMetadataSize)
	}
	if metainfo.Hash(sha1.Sum(infoBytes)) != ih {
		return nil, fmt.Errorf("%w: info does not hash to %s", ErrBadInfo, ih.HexString())
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(infoBytes, &info); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadInfo, err)
	}
	return newLayout(&info)
}

// newLayout validates info.
func newLayout(info *metainfo.Info) (*layout, error) {
	if !info.HasV1() || len(info.Pieces) == 0 {
		return nil, fmt.Errorf("%w: not a BitTorrent v1 (or hybrid) torrent", ErrBadInfo)
	}
	if info.PieceLength <= 0 || info.PieceLength > maxPieceLength {
		return nil, fmt.Errorf("%w: piece length %d", ErrBadInfo, info.PieceLength)
	}
	if len(info.Pieces)%20 != 0 {
		return nil, fmt.Errorf("%w: pieces field of %d bytes", ErrBadInfo, len(info.Pieces))
	}
	var total int64
	if len(info.Files) == 0 {
		total = info.Length
		if total < 0 {
			return nil, fmt.Errorf("%w: negative length", ErrBadInfo)
		}
	} else {
		for _, f := range info.Files {
			if f.Length < 0 || f.Length > maxTotalLength || total > maxTotalLength-f.Length {
				return nil, fmt.Errorf("%w: file length %d", ErrBadInfo, f.Length)
			}
			total += f.Length
		}
	}
	if total <= 0 || total > maxTotalLength {
		return nil, fmt.Errorf("%w: total length %d", ErrBadInfo, total)
	}
	n := len(info.Pieces) / 20
	if want := (total + info.PieceLength - 1) / info.PieceLength; int64(n) != want || n > maxPieces {
		return nil, fmt.Errorf("%w: %d piece hashes for %d bytes in pieces of %d", ErrBadInfo, n, total, info.PieceLength)
	}
	return &layout{info: info, pieceLength: info.PieceLength, total: total, numPieces: n, hashes: info.Pieces}, nil
}

// pieceLen returns the length of piece i.
func (l *layout) pieceLen(i int) int64 {
	if i == l.numPieces-1 {
		return l.total - int64(i)*l.pieceLength
	}
	return l.pieceLength
}

// pieceOff returns the torrent offset of piece i.
func (l *layout) pieceOff(i int) int64 { return int64(i) * l.pieceLength }

// numBlocks returns the number of BlockSize blocks of piece i.
func (l *layout) numBlocks(i int) int {
	return int((l.pieceLen(i) + BlockSize - 1) / BlockSize)
}

// blockLen returns the length of block b of piece i.
func (l *layout) blockLen(i, b int) int64 {
	return min(BlockSize, l.pieceLen(i)-int64(b)*BlockSize)
}

// hash returns piece i's SHA-1.
func (l *layout) hash(i int) [20]byte {
	var h [20]byte
	copy(h[:], l.hashes[i*20:])
	return h
}

// private says whether the torrent is private (BEP 27).
func (l *layout) private() bool { return l.info.Private != nil && *l.info.Private }

// validRequest says whether (piece, begin, length) lies inside piece.
func (l *layout) validRequest(piece, begin, length uint32) bool {
	if int64(piece) >= int64(l.numPieces) || length == 0 || length > MaxRequestLength {
		return false
	}
	end := uint64(begin) + uint64(length)
	return end <= uint64(l.pieceLen(int(piece))) && end <= math.MaxInt64
}
