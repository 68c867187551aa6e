//go:build linux

// Package netnstest gives a test a network namespace of its own, joined to the
// host by a veth pair with a default route to the host end, as WebRTC
// stacks need: Chromium and libwebrtc gather no candidates on loopback, only
// on a real interface with a default route. Nothing is forwarded or
// NATed, so processes inside reach the host end and nothing else.
//
// Tests skip when they cannot make one (not root, no ip(8)) unless
// BTSPEED_REQUIRE_NETNS=1, which fails them.
package netnstest

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// NS is a network namespace and its veth pair.
type NS struct {
	// Name is the namespace's name (ip netns).
	Name string
	// HostIf is the host end of the veth pair, HostIP its address; NSIP is
	// the address inside the namespace (default route via HostIP).
	HostIf string
	HostIP netip.Addr
	NSIP   netip.Addr

	mu    sync.Mutex
	procs []*exec.Cmd
}

var counter atomic.Uint32

// Require skips (or fails, with BTSPEED_REQUIRE_NETNS=1) a test that
// cannot make network namespaces here.
func Require(t testing.TB) {
	t.Helper()
	var why string
	if os.Geteuid() != 0 {
		why = "network namespaces need root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "ip(8) is missing (apt-get install iproute2)"
	}
	if why == "" {
		return
	}
	if os.Getenv("BTSPEED_REQUIRE_NETNS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// usedSubnets returns the 10.x.y.0/24 subnets configured on the host.
func usedSubnets() map[[2]byte]bool {
	out, _ := exec.Command("ip", "-o", "-4", "addr").Output()
	used := make(map[[2]byte]bool)
	for _, f := range strings.Fields(string(out)) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().Is4() {
			b := p.Addr().As4()
			if b[0] == 10 {
				used[[2]byte{b[1], b[2]}] = true
			}
		}
	}
	return used
}

// New makes a namespace for t, removed when t ends (processes started
// with Command first).
func New(t testing.TB) *NS {
	t.Helper()
	Require(t)
	n := counter.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, n)
	ns := &NS{Name: "bts-" + id, HostIf: "bth" + id}
	peerIf := "btn" + id
	if len(ns.HostIf) > 15 || len(peerIf) > 15 {
		t.Fatalf("interface name %q too long", ns.HostIf)
	}
	// A subnet no other test process uses: 10.(100..227).y, from a hash
	// of the id, then the next free one.
	h := fnv.New32a()
	h.Write([]byte(id))
	start := h.Sum32()
	used := usedSubnets()
	var sub [2]byte
	found := false
	for i := uint32(0); i < 128*256; i++ {
		v := (start + i) % (128 * 256)
		sub = [2]byte{byte(100 + v/256), byte(v % 256)}
		if !used[sub] && sub[1] != 0 {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("netns: no free 10.x.y.0/24 subnet")
	}
	ns.HostIP = netip.AddrFrom4([4]byte{10, sub[0], sub[1], 1})
	ns.NSIP = netip.AddrFrom4([4]byte{10, sub[0], sub[1], 2})
	cleanup := func() {
		ns.mu.Lock()
		procs := ns.procs
		ns.mu.Unlock()
		for _, c := range procs {
			if c.Process != nil {
				c.Process.Kill()
			}
		}
		ip("link", "del", ns.HostIf)
		ip("netns", "del", ns.Name)
	}
	t.Cleanup(cleanup)
	steps := [][]string{
		{"netns", "add", ns.Name},
		{"link", "add", ns.HostIf, "type", "veth", "peer", "name", peerIf},
		{"link", "set", peerIf, "netns", ns.Name},
		{"addr", "add", ns.HostIP.String() + "/24", "dev", ns.HostIf},
		{"link", "set", ns.HostIf, "up"},
		{"-n", ns.Name, "addr", "add", ns.NSIP.String() + "/24", "dev", peerIf},
		{"-n", ns.Name, "link", "set", peerIf, "up"},
		{"-n", ns.Name, "link", "set", "lo", "up"},
		{"-n", ns.Name, "route", "add", "default", "via", ns.HostIP.String()},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatalf("netns: %v", err)
		}
	}
	return ns
}

// Command returns a command that runs name inside the namespace; it is
// killed when the test ends if still running. It has the shape of
// exec.CommandContext.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	ns.mu.Lock()
	ns.procs = append(ns.procs, cmd)
	ns.mu.Unlock()
	return cmd
}
