//go:build js

package engine

// announceTo: a browser cannot reach HTTP or UDP trackers (no UDP, and
// trackers send no CORS headers); its peers come through PeerFinders.
func (t *Torrent) announceTo(url string) {
	t.log.Debug("tracker skipped in the browser", "url", url)
}
