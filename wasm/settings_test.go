//go:build !js

package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/shared/speed/bidder"
	"github.com/btspeed/btspeed/webpeer"
)

// The settings cross to JavaScript and back as BTT strings, the max price
// per GiB and the per-download budget included, with the defaults shown
// as what is in force.
func TestSettingsRoundTrip(t *testing.T) {
	def := settingsView(webpeer.DefaultSettings())
	if def.MaxPrice != "1000.000000" || def.TorrentBudget != "0.000000" {
		t.Fatalf("the defaults show max price %q, budget per download %q", def.MaxPrice, def.TorrentBudget)
	}
	if got := settingsView(webpeer.Settings{}).MaxPrice; got != "1000.000000" {
		t.Fatalf("no max price set shows %q, want the default in force", got)
	}
	in := settingsJS{Speed: true, SpendingRate: 500_000, Budget: "25", TorrentBudget: "2.5", MaxPrice: "0.000001",
		Reserve: "0.001", StorageLimit: 1 << 20}
	s, err := in.settings()
	if err != nil {
		t.Fatal(err)
	}
	want := webpeer.Settings{Speed: true, SpendingRate: 500_000, Budget: 25_000_000, TorrentBudget: 2_500_000, MaxPrice: 1,
		Reserve: 1000, StorageLimit: 1 << 20}
	if s != want {
		t.Fatalf("parsed %+v, want %+v", s, want)
	}
	back := settingsView(s)
	if back.MaxPrice != "0.000001" || back.TorrentBudget != "2.500000" || back.Budget != "25.000000" {
		t.Fatalf("shown back as %+v", back)
	}
	if s, err := (settingsJS{MaxPrice: "1000", TorrentBudget: ""}).settings(); err != nil || s.TorrentBudget != 0 || s.MaxPrice != bidder.DefaultMaxPrice {
		t.Fatalf("an empty budget per download: %+v %v, want 0 (the default)", s, err)
	}
}

// Bad amounts are refused with bad_amount, naming the setting; nothing is
// half applied because nothing is returned to apply.
func TestSettingsRefused(t *testing.T) {
	good := settingsJS{MaxPrice: "1000", TorrentBudget: "1", Budget: "0", Reserve: "0"}
	for _, c := range []struct {
		name string
		edit func(*settingsJS)
	}{
		{"maxPrice", func(s *settingsJS) { s.MaxPrice = "0" }},
		{"maxPrice", func(s *settingsJS) { s.MaxPrice = "" }},
		{"maxPrice", func(s *settingsJS) { s.MaxPrice = "1e3" }},
		{"maxPrice", func(s *settingsJS) { s.MaxPrice = "-5" }},
		{"torrentBudget", func(s *settingsJS) { s.TorrentBudget = "1.2345678" }},
		{"torrentBudget", func(s *settingsJS) { s.TorrentBudget = "99999999999999999999" }},
		{"budget", func(s *settingsJS) { s.Budget = "ten" }},
		{"reserve", func(s *settingsJS) { s.Reserve = "0.5.1" }},
	} {
		in := good
		c.edit(&in)
		_, err := in.settings()
		if !errors.Is(err, webpeer.ErrBadAmount) || !strings.HasPrefix(err.Error(), c.name+":") {
			t.Errorf("%+v: %v, want bad_amount for %s", in, err, c.name)
		}
	}
}

// A torrent's own max price and budget become its engine override; none
// follows the settings; stream is kept either way.
func TestTorrentOptions(t *testing.T) {
	s := webpeer.DefaultSettings()
	if o, err := (torrentOptionsJS{}).options(s); err != nil || o.Speed != nil {
		t.Fatalf("no options: %+v %v", o, err)
	}
	o, err := (torrentOptionsJS{Budget: "3", MaxPrice: "500"}).options(s)
	if err != nil || o.Speed == nil || !o.Speed.Enabled || o.Speed.Budget != 3_000_000 || o.Speed.MaxPrice != 500_000_000 {
		t.Fatalf("budget 3, max price 500: %+v %v", o.Speed, err)
	}
	if _, err := (torrentOptionsJS{MaxPrice: "abc"}).options(s); !errors.Is(err, webpeer.ErrBadAmount) {
		t.Fatalf("a bad max price: %v", err)
	}
	// stream: a player will stream it, with or without Speed options.
	for _, js := range []torrentOptionsJS{{Stream: true}, {Stream: true, Budget: "3"}} {
		if o, err := js.options(s); err != nil || !o.Stream {
			t.Fatalf("%+v: %+v %v", js, o, err)
		}
	}
}
