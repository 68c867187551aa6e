//go:build !js && !btspeed_crashtest

package tronsetup

// CrashStep is the exchange's crash hook (exchange.Config.Step): nil in
// this build. Binaries built with -tags btspeed_crashtest, for the crash
// tests only, kill themselves at the step $BTSPEED_CRASH_AT names.
func CrashStep() func(string) { return nil }
