package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/btspeed/btspeed/shared/httptracker"
)

func runTracker(c *cli, args []string) error {
	return dispatch(c, "btspeed tracker", []command{
		{"scrape", "ask HTTP trackers how many seed and download torrents (BEP 48)", trackerScrape},
	}, args)
}

// trackerScrape scrapes the trackers of a torrent (a .torrent file, a
// magnet link or URL), or of --tracker, for its info hash.
func trackerScrape(c *cli, args []string) error {
	fs := c.newFlags("scrape", "btspeed tracker scrape TORRENT|MAGNET|INFOHASH [--tracker URL] [--json]")
	tracker := fs.String("tracker", "", "announce URL of the tracker to ask (default: the torrent's HTTP trackers)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one torrent file, magnet link or 40-hex info hash"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ih [20]byte
	var trackers []string
	if b, err := hex.DecodeString(pos[0]); err == nil && len(b) == 20 {
		ih = [20]byte(b)
	} else {
		spec, err := specFor(ctx, pos[0])
		if err != nil {
			return err
		}
		ih = spec.InfoHash
		for _, tier := range spec.Trackers {
			for _, tr := range tier {
				if strings.HasPrefix(tr, "http://") || strings.HasPrefix(tr, "https://") {
					trackers = append(trackers, tr)
				}
			}
		}
	}
	if *tracker != "" {
		trackers = []string{*tracker}
	}
	if len(trackers) == 0 {
		return usageError{"no HTTP tracker to ask: give --tracker URL"}
	}
	type row struct {
		Tracker    string `json:"tracker"`
		Complete   int    `json:"complete"`
		Incomplete int    `json:"incomplete"`
		Downloaded int    `json:"downloaded"`
		Error      string `json:"error,omitempty"`
	}
	var rows []row
	failed := 0
	for _, tr := range trackers {
		r := row{Tracker: tr}
		counts, err := scrape(ctx, tr, ih)
		if err != nil {
			r.Error = err.Error()
			failed++
		} else {
			r.Complete, r.Incomplete, r.Downloaded = counts.Complete, counts.Incomplete, counts.Downloaded
		}
		rows = append(rows, r)
	}
	if *asJSON {
		if err := json.NewEncoder(c.out).Encode(map[string]any{"info_hash": hex.EncodeToString(ih[:]), "trackers": rows}); err != nil {
			return err
		}
	} else {
		for _, r := range rows {
			if r.Error != "" {
				fmt.Fprintf(c.out, "%s: %s\n", r.Tracker, r.Error)
				continue
			}
			fmt.Fprintf(c.out, "%s: %d seeding, %d downloading, %d completed\n", r.Tracker, r.Complete, r.Incomplete, r.Downloaded)
		}
	}
	if failed == len(rows) {
		return errFalse
	}
	return nil
}

// scrape asks one tracker about one torrent.
func scrape(ctx context.Context, announce string, ih [20]byte) (httptracker.Counts, error) {
	su, err := httptracker.ScrapeURL(announce)
	if err != nil {
		return httptracker.Counts{}, err
	}
	sep := "?"
	if strings.Contains(su, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, su+sep+"info_hash="+url.QueryEscape(string(ih[:])), nil)
	if err != nil {
		return httptracker.Counts{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return httptracker.Counts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httptracker.Counts{}, fmt.Errorf("%s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, httptracker.MaxScrapeAnswer+1))
	if err != nil {
		return httptracker.Counts{}, err
	}
	files, err := httptracker.DecodeScrape(b)
	if err != nil {
		return httptracker.Counts{}, err
	}
	return files[ih], nil
}
