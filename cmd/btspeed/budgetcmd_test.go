package main

import (
	"strings"
	"testing"
)

// btspeed budget: a publisher that leaves after a day on average needs a
// sponsor to keep a small torrent available for five days; the command
// names a rate above zero and a budget, and refuses a probability above 1.
func TestBudgetCommand(t *testing.T) {
	r := btspeed(t, nil, "", "budget", "-size-mib", "256", "-demand", "40", "-days", "5", "-p", "0.25",
		"-share", "1", "-swarms", "20", "-publisher-hours", "24")
	t.Log(r.out)
	if r.code != exitOK || !strings.Contains(r.out, "Budget: ") || strings.Contains(r.out, "paying online Speed seeds 0.000000 BTT") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	if r := btspeed(t, nil, "", "budget", "-p", "1.5"); r.code == exitOK || !strings.Contains(r.err, "-p must be in") {
		t.Errorf("-p 1.5: exit %d, stderr %q", r.code, r.err)
	}
}
