//go:build !js

package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// CreateOptions shape a torrent made by CreateTorrent.
type CreateOptions struct {
	PieceLength int64    // 0: AutoPieceLength of the content's size
	Trackers    []string // one tier each
	WebSeeds    []string // BEP 19
	Private     bool     // BEP 27
	CreatedBy   string
}

// CreateTorrent hashes a file or directory into a torrent whose name is
// path's base name.
func CreateTorrent(path string, o CreateOptions) (*metainfo.MetaInfo, error) {
	total, err := contentSize(path)
	if err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, fmt.Errorf("engine: %s is empty", path)
	}
	info := metainfo.Info{PieceLength: o.PieceLength}
	if info.PieceLength == 0 {
		info.PieceLength = AutoPieceLength(total)
	}
	if o.Private {
		t := true
		info.Private = &t
	}
	if err := info.BuildFromFilePath(path); err != nil {
		return nil, fmt.Errorf("engine: hashing %s: %w", path, err)
	}
	mi := &metainfo.MetaInfo{CreatedBy: o.CreatedBy, CreationDate: time.Now().Unix(), UrlList: o.WebSeeds}
	if len(o.Trackers) > 0 {
		mi.Announce = o.Trackers[0]
		for _, tr := range o.Trackers {
			mi.AnnounceList = append(mi.AnnounceList, []string{tr})
		}
	}
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		return nil, err
	}
	return mi, nil
}

// contentSize is the size of a file, or of the regular files under a
// directory.
func contentSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !st.IsDir() {
		return st.Size(), nil
	}
	var total int64
	err = filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return err
	})
	return total, err
}
