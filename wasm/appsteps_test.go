//go:build !js

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/internal/netnstest"
	"github.com/btspeed/btspeed/shared/wallet"
)

// seedingRelay starts a relay in ns's host end serving the web app from
// web and seeding a file called name with Speed, earning for its own key:
// n bytes from writeRandomFile(seed). It returns the relay's
// URL, the file's bytes and the relay's key.
func seedingRelay(t *testing.T, ns *netnstest.NS, web, name string, n int, seed uint64) (string, []byte, *wallet.PrivateKey) {
	t.Helper()
	seedPath := filepath.Join(t.TempDir(), name)
	data := writeRandomFile(t, seedPath, n, seed)
	relayKey, _ := wallet.GenerateKey()
	return startSeedingRelay(t, ns, web, seedPath, relayKey, 1000), data, relayKey
}

// visible is the selector of the element with this id while it is shown.
func visible(id string) string { return "#" + id + ":not([hidden])" }

// appShot saves a full-page screenshot of the web app on p as
// app-NAME.png (see screenshotPath).
func appShot(t *testing.T, p *browsertest.Page, name string) {
	t.Helper()
	p.Screenshot(t, screenshotPath(t, "app-"+name+".png"), true)
}

// checkShots fails t unless every screenshot PREFIX-NAME.png was saved
// and is more than a blank page.
func checkShots(t *testing.T, prefix string, names ...string) {
	t.Helper()
	for _, f := range names {
		if st, err := os.Stat(screenshotPath(t, prefix+"-"+f+".png")); err != nil || st.Size() < 5000 {
			t.Fatalf("screenshot %s: %v", f, err)
		}
	}
}
