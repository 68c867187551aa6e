package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/btspeed/btspeed/engine"
)

// A magnet link the engine cannot read gets a message for people; the
// parser's cause stays in the chain.
func TestSpecFromMagnetErrorsForPeople(t *testing.T) {
	for _, bad := range []string{"magnet:?xt=urn:btih:xyz", "hello", "magnet:?dn=nothing"} {
		_, err := engine.SpecFromMagnet(bad)
		if !errors.Is(err, engine.ErrBadMagnet) || !strings.Contains(err.Error(), "check the whole link was copied") || strings.Contains(err.Error(), "encoded length") {
			t.Errorf("%q: %v", bad, err)
		}
		if !strings.Contains(strings.Join(errorsChain(err), " | "), "engine: magnet link: ") {
			t.Errorf("%q: the cause is gone: %v", bad, errorsChain(err))
		}
	}
}

// errorsChain lists the messages of err's tree, depth first.
func errorsChain(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, errorsChain(e)...)
		}
	case interface{ Unwrap() error }:
		out = append(out, errorsChain(u.Unwrap())...)
	}
	return out
}
