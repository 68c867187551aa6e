//go:build !js

package rtc

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine they started is still
// running once they are done (pion's, and the Conn's own).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
