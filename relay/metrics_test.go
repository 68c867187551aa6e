package relay_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/relay"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Two relays in one process each serve their own metrics, in the
// exposition format Prometheus parses, with the relay's metric names and
// types, the Go runtime's and the process's; each counts only its own
// requests.
func TestMetricsPerRelay(t *testing.T) {
	var urls []string
	for range 2 {
		rl, err := relay.New(relay.Config{LedgerURL: "http://127.0.0.1:1", PeerListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rl.Close() })
		srv := httptest.NewServer(rl)
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	for range 3 {
		get(t, urls[0]+"/seeds")
	}
	want := map[string]string{
		"btspeed_relay_http_requests_total": "COUNTER", "btspeed_ledger_gateway_seconds": "HISTOGRAM",
		"btspeed_tracker_peers": "GAUGE", "btspeed_tracker_announces_total": "COUNTER",
		"btspeed_bridge_bytes_total": "COUNTER", "btspeed_discover_peers": "GAUGE",
		"btspeed_ledger_gateway_limited_total": "COUNTER", "btspeed_seeder_uploaded_bytes_total": "COUNTER",
		"go_goroutines": "GAUGE", "go_memstats_heap_alloc_bytes": "GAUGE", "process_cpu_seconds_total": "COUNTER",
		"process_resident_memory_bytes": "GAUGE",
	}
	for i, url := range urls {
		resp, body := get(t, url+"/metrics")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Fatalf("relay %d: metrics Content-Type %q", i, ct)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("relay %d: Prometheus cannot parse the metrics: %v\n%s", i, err, body)
		}
		for name, kind := range want {
			f := families[name]
			if f == nil || f.GetType().String() != kind {
				t.Fatalf("relay %d: metric %s is %v, want a %s:\n%s", i, name, f, kind, body)
			}
		}
		// The scrape itself is a request: relay 0 has served 3 before it,
		// relay 1 none.
		got := families["btspeed_relay_http_requests_total"].Metric[0].GetCounter().GetValue()
		if wantN := []float64{4, 1}[i]; got != wantN {
			t.Fatalf("relay %d counted %v requests, want %v", i, got, wantN)
		}
		if h := families["btspeed_ledger_gateway_seconds"].Metric[0].GetHistogram(); len(h.Bucket) != 12 || h.GetSampleCount() != 0 {
			t.Fatalf("relay %d: gateway histogram %v", i, h)
		}
	}
}
