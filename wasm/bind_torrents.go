//go:build js

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/btspeed/btspeed/webpeer"
)

// The torrents' methods of the binding (see bind.go).

// options parses the JSON torrent options of add, seed and setSpeed
// against the peer's settings ("" is no options).
func (b binding) options(raw string) (webpeer.TorrentOptions, error) {
	var o torrentOptionsJS
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return webpeer.TorrentOptions{}, fmt.Errorf("options: %w", err)
		}
	}
	return o.options(b.p.Settings())
}

// torrent is the torrent whose info hash (hex) is v.
func (b binding) torrent(v js.Value) (*webpeer.Torrent, error) {
	ih, err := parseIH(v)
	if err != nil {
		return nil, err
	}
	for _, t := range b.p.Torrents() {
		if t.InfoHash() == ih {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no torrent %s", ih.HexString())
}

// bytesOf copies a Uint8Array into Go.
func bytesOf(v js.Value) []byte {
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

// add adds a torrent: argument 0 is a magnet link or a .torrent's bytes,
// 1 the options.
func (b binding) add(a args) any {
	src, opts := a.at(0), a.str(1)
	var data []byte
	if src.Type() == js.TypeString {
		data = []byte(src.String())
	} else if src.InstanceOf(js.Global().Get("Uint8Array")) {
		data = bytesOf(src)
	}
	return promise(func() (any, error) {
		to, err := b.options(opts)
		if err != nil {
			return nil, err
		}
		t, err := b.p.Add(context.Background(), data, to)
		if err != nil {
			return nil, err
		}
		return t.InfoHash().HexString(), nil
	})
}

// seed makes and seeds a torrent: argument 0 is its name, 1 a list of
// {path, data}, 2 the options.
func (b binding) seed(a args) any {
	name, list, opts := a.str(0), a.at(1), a.str(2)
	var files []webpeer.SeedFile
	if list.Type() == js.TypeObject {
		for i := 0; i < list.Get("length").Int(); i++ {
			f := list.Index(i)
			files = append(files, webpeer.SeedFile{Path: f.Get("path").String(), Data: bytesOf(f.Get("data"))})
		}
	}
	return promise(func() (any, error) {
		to, err := b.options(opts)
		if err != nil {
			return nil, err
		}
		t, err := b.p.Seed(name, files, to)
		if err != nil {
			return nil, err
		}
		return t.InfoHash().HexString(), nil
	})
}

func (b binding) torrents(args) any {
	return promise(func() (any, error) {
		var out []torrentJS
		for _, t := range b.p.Torrents() {
			out = append(out, torrentView(t.Status()))
		}
		return toJSON(out), nil
	})
}

// read reads up to argument 3 bytes (at most 16 MiB) of file 1 of torrent
// 0 at offset 2, asking for argument 4 bytes ahead of it first.
func (b binding) read(a args) any {
	ihv, fileIdx, off, n, ahead := a.at(0), a.at(1).Int(), a.at(2).Float(), a.at(3).Int(), 0.0
	if v := a.at(4); v.Type() == js.TypeNumber {
		ahead = v.Float()
	}
	return promise(func() (any, error) {
		t, err := b.torrent(ihv)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, min(max(n, 0), 16<<20))
		got, err := t.ReadFile(context.Background(), fileIdx, buf, int64(off), int64(ahead))
		if err != nil && got == 0 {
			return nil, err
		}
		u := js.Global().Get("Uint8Array").New(got)
		js.CopyBytesToJS(u, buf[:got])
		return u, nil
	})
}

func (b binding) setSpeed(a args) any {
	ihv, opts := a.at(0), a.str(1)
	return promise(func() (any, error) {
		t, err := b.torrent(ihv)
		if err != nil {
			return nil, err
		}
		if opts == "" {
			return nil, fmt.Errorf("options: want the Speed options as JSON")
		}
		to, err := b.options(opts)
		if err != nil {
			return nil, err
		}
		t.SetSpeed(to)
		return nil, nil
	})
}

// buffered lists the byte ranges of file 1 of torrent 0 already here.
func (b binding) buffered(a args) any {
	ihv, fileIdx := a.at(0), a.at(1).Int()
	return promise(func() (any, error) {
		t, err := b.torrent(ihv)
		if err != nil {
			return nil, err
		}
		r, err := t.Buffered(fileIdx)
		if err != nil {
			return nil, err
		}
		return toJSON(r), nil
	})
}
