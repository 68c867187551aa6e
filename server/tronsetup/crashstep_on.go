//go:build !js && btspeed_crashtest

package tronsetup

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// CrashStep returns, when $BTSPEED_CRASH_AT names an exchange step
// (optionally with ":N", its Nth time), a Step function that kills the
// process with SIGKILL there, as a crash would: a testing aid for the
// exchange's crash tests. Otherwise it returns nil.
//
// It exists only in binaries built with -tags btspeed_crashtest (the crash
// tests build them so); in any other build CrashStep always returns nil,
// so the variable cannot kill a production ledger or relay.
func CrashStep() func(string) {
	spec := os.Getenv("BTSPEED_CRASH_AT")
	if spec == "" {
		return nil
	}
	name, nth, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nth)
	if err != nil || n < 1 {
		n = 1
	}
	seen := 0
	return func(step string) {
		if step != name {
			return
		}
		if seen++; seen == n {
			fmt.Fprintf(os.Stderr, "BTSPEED_CRASH_AT=%s: killing the process\n", spec)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // SIGKILL is not instant
		}
	}
}
