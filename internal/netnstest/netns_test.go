//go:build linux

package netnstest_test

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/internal/netnstest"
)

// A process inside reaches a listener on the host end; the namespace is
// gone after the test.
func TestNamespace(t *testing.T) {
	var name string
	t.Run("inside", func(t *testing.T) {
		ns := netnstest.New(t)
		name = ns.Name
		ln, err := net.Listen("tcp", netip.AddrPortFrom(ns.HostIP, 0).String())
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			got <- c.RemoteAddr().String()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		port := ln.Addr().(*net.TCPAddr).Port
		out, err := ns.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+ns.HostIP.String()+"/"+strconv.Itoa(port)+"; ip -o -4 addr").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !strings.Contains(string(out), ns.NSIP.String()) {
			t.Fatalf("inside the namespace: %s", out)
		}
		select {
		case from := <-got:
			if !strings.HasPrefix(from, ns.NSIP.String()+":") {
				t.Fatalf("connection from %s, want %s", from, ns.NSIP)
			}
		case <-ctx.Done():
			t.Fatal("no connection from inside")
		}
	})
	if name == "" {
		return // skipped
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), name) {
		t.Fatalf("namespace %s left behind", name)
	}
}
