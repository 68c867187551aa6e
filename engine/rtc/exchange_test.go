package rtc

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"
)

// exchange writes size random bytes each way (odd write sizes, so message
// boundaries do not line up with reads) and checks what arrives.
func exchange(t testing.TB, a, b *Conn, size int) {
	t.Helper()
	send := func(c *Conn, data []byte, errc chan<- error) {
		for off := 0; off < len(data); {
			n := min(len(data)-off, 70001)
			if _, err := c.Write(data[off : off+n]); err != nil {
				errc <- err
				return
			}
			off += n
		}
		errc <- nil
	}
	ab, ba := make([]byte, size), make([]byte, size)
	rand.Read(ab)
	rand.Read(ba)
	errc := make(chan error, 2)
	go send(a, ab, errc)
	go send(b, ba, errc)
	gotB, gotA := make([]byte, size), make([]byte, size)
	readc := make(chan error, 2)
	go func() { _, err := io.ReadFull(b, gotB); readc <- err }()
	go func() { _, err := io.ReadFull(a, gotA); readc <- err }()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if err := <-readc; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(gotB, ab) || !bytes.Equal(gotA, ba) {
		t.Fatal("bytes differ")
	}
}

// pairConfigs opens a data channel between two peer connections in this
// process (or page), the offerer configured by cfg and the answerer by acfg.
func pairConfigs(t testing.TB, cfg, acfg Config) (offerer, answerer *Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := NewOffer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAnswer(ctx, acfg, o.Local)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Accept(a.Local); err != nil {
		t.Fatal(err)
	}
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := a.Connect(ctx); ch <- res{c, err} }()
	oc, err := o.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return oc, r.c
}
