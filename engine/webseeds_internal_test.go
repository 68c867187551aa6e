package engine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/webseed"
)

// webSeedBackoff doubles from 2 s to a minute, and a Retry-After wins.
func TestWebSeedBackoff(t *testing.T) {
	for _, c := range []struct {
		err      error
		failures int
		want     time.Duration
	}{
		{errors.New("reset"), 1, 2 * time.Second},
		{errors.New("reset"), 3, 8 * time.Second},
		{errors.New("reset"), 5, 32 * time.Second},
		{errors.New("reset"), 9, 60 * time.Second},
		{fmt.Errorf("piece 3: %w", &webseed.StatusError{Code: 503, RetryAfter: 7 * time.Second}), 1, 7 * time.Second},
		{&webseed.StatusError{Code: 503}, 2, 4 * time.Second},
	} {
		if got := webSeedBackoff(c.err, c.failures); got != c.want {
			t.Errorf("webSeedBackoff(%v, %d) = %v, want %v", c.err, c.failures, got, c.want)
		}
	}
}
