package edge

import (
	_ "embed"
	"strings"
)

//go:embed migrations/0001_tracker.sql
var schemaSQL string

// Schema returns the tracker's schema, one statement each (D1 prepares
// one statement at a time).
func Schema() []string {
	var out []string
	for _, stmt := range strings.Split(schemaSQL, ";") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if i := strings.Index(l, "--"); i >= 0 {
				l = l[:i]
			}
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			out = append(out, strings.Join(lines, " "))
		}
	}
	return out
}
