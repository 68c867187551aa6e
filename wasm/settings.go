package main

import (
	"fmt"
	"strings"

	"github.com/btspeed/btspeed/engine"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/webpeer"
)

// This file is the settings' side of the binding, built natively too so
// its tests run without a browser: amounts cross to JavaScript as decimal
// BTT strings, never floats.

// settingsJS are webpeer.Settings as client.settings shows them
// (docs/js-api.md): amounts in BTT, the max price in BTT per GiB.
type settingsJS struct {
	Speed        bool   `json:"speed"`
	SpendingRate uint32 `json:"spendingRate"`
	Budget       string `json:"budget"`
	// TorrentBudget is each download's budget; "0": 1% of the wallet.
	TorrentBudget string `json:"torrentBudget"`
	MaxPrice      string `json:"maxPrice"`
	Reserve       string `json:"reserve"`
	StorageLimit  int64  `json:"storageLimit"`
}

// settingsView is s for JavaScript.
func settingsView(s webpeer.Settings) settingsJS {
	return settingsJS{Speed: s.Speed, SpendingRate: s.SpendingRate, Budget: speed.FormatBTT(s.Budget),
		TorrentBudget: speed.FormatBTT(s.TorrentBudget), MaxPrice: speed.FormatBTT(maxPriceOf(s.MaxPrice)),
		Reserve: speed.FormatBTT(s.Reserve), StorageLimit: s.StorageLimit}
}

// maxPriceOf is the max price in force for a setting of p (0: the default).
func maxPriceOf(p uint64) uint64 {
	if p == 0 {
		return bidder.DefaultMaxPrice
	}
	return p
}

// settings reads in; a malformed amount is refused with ErrBadAmount
// naming the setting.
func (in settingsJS) settings() (webpeer.Settings, error) {
	s := webpeer.Settings{Speed: in.Speed, SpendingRate: in.SpendingRate, StorageLimit: in.StorageLimit}
	var err error
	if s.Budget, err = amount("budget", in.Budget, true); err != nil {
		return s, err
	}
	if s.TorrentBudget, err = amount("torrentBudget", in.TorrentBudget, true); err != nil {
		return s, err
	}
	if s.MaxPrice, err = amount("maxPrice", in.MaxPrice, false); err != nil {
		return s, err
	}
	if s.Reserve, err = amount("reserve", in.Reserve, true); err != nil {
		return s, err
	}
	return s, nil
}

// amount parses the decimal BTT string v of the setting name; "" is 0
// where zeroOK.
func amount(name, v string, zeroOK bool) (uint64, error) {
	v = strings.TrimSpace(v)
	if v == "" && zeroOK {
		return 0, nil
	}
	u, err := speed.ParseBTT(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w (%s)", name, webpeer.ErrBadAmount, strings.TrimPrefix(err.Error(), "speed: "))
	}
	if u == 0 && !zeroOK {
		return 0, fmt.Errorf("%s: %w (more than 0 BTT)", name, webpeer.ErrBadAmount)
	}
	return u, nil
}

// torrentOptionsJS are a page's per-torrent options for add, seed and
// setSpeed.
type torrentOptionsJS struct {
	Speed    *bool  `json:"speed"`
	Budget   string `json:"budget"`
	MaxPrice string `json:"maxPrice"`
	// Stream: a player will stream the first video or audio file.
	Stream bool `json:"stream"`
}

// options turns o into the torrent's own Speed settings, from the peer's
// settings s; none, or Speed on without a budget or max price of its own,
// follow the peer's settings (and their later changes).
func (o torrentOptionsJS) options(s webpeer.Settings) (webpeer.TorrentOptions, error) {
	if o.Budget == "" && o.MaxPrice == "" && (o.Speed == nil || *o.Speed) {
		return webpeer.TorrentOptions{Stream: o.Stream}, nil
	}
	ss := engine.SpeedSettings{Enabled: s.Speed, SpendingRate: s.SpendingRate, Reserve: s.Reserve}
	if o.Speed != nil {
		ss.Enabled = *o.Speed
	}
	var err error
	if ss.Budget, err = amount("budget", o.Budget, true); err != nil {
		return webpeer.TorrentOptions{}, err
	}
	if ss.MaxPrice, err = amount("maxPrice", o.MaxPrice, true); err != nil {
		return webpeer.TorrentOptions{}, err
	}
	return webpeer.TorrentOptions{Speed: &ss, Stream: o.Stream}, nil
}
