//go:build js

package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
)

// TestBrowserDo fetches a data: URL through the JavaScript host's fetch (Node
// under `GOOS=js`): the status, a header and the streamed body arrive, and a
// cancelled context ends the request with the context's error.
func TestBrowserDo(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "data:text/plain,hello%20fetch", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Browser{}.Do(req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	if resp.StatusCode != 200 || string(b) != "hello fetch" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %d %q type %q, want 200 \"hello fetch\" text/plain", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Browser{}).Do(req.WithContext(ctx)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a cancelled context: %v, want context.Canceled", err)
	}

	bad, _ := http.NewRequest(http.MethodGet, "data:", nil)
	if _, err := (Browser{}).Do(bad); err == nil {
		t.Fatal("Do of a malformed data: URL succeeded")
	}
}
