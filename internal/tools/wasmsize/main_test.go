package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
)

// TestRunTablesARealBuild builds a small js/wasm program and checks that the
// table names its packages, including one it imports by a path with a slash
// (net/url, "net_url" in the name section) and its main package, and that the
// rows add up to the total.
func TestRunTablesARealBuild(t *testing.T) {
	var out bytes.Buffer
	if err := run("./testdata/hello", "", 1000, false, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !regexp.MustCompile(`\d+ bytes raw .* \d+ bytes gzip -9`).MatchString(text) {
		t.Fatalf("no size line in:\n%s", text)
	}
	rows := map[string]int{}
	sum := 0
	for _, m := range regexp.MustCompile(`(?m)^(\S.*?)\s+(\d+)\s+[\d.]+%$`).FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[2])
		rows[m[1]] = n
		if m[1] != "total" {
			sum += n
		}
	}
	for _, want := range []string{"runtime", "net/url", "main (./testdata/hello)", "(data segments: strings, tables, type data)"} {
		if rows[want] == 0 {
			t.Errorf("no row for %q in:\n%s", want, text)
		}
	}
	if rows["(unnamed)"] != 0 || sum != rows["total"] {
		t.Errorf("unnamed code %d bytes; rows sum to %d, total %d", rows["(unnamed)"], sum, rows["total"])
	}
}
