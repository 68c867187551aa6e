//go:build !js

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/btspeed/btspeed/engine/rtc"
	"github.com/btspeed/btspeed/internal/browsertest"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/shared/speed"
	"github.com/btspeed/btspeed/shared/speed/store"
	"github.com/btspeed/btspeed/shared/wallet"
)

// startStoreRelay is startRelay with a storage provider behind the
// relay's GET /store/ws, paid to a new key, retrieval at 1 BTT per MiB.
func startStoreRelay(t *testing.T, web string) (url string, op wallet.Address) {
	t.Helper()
	key, _ := wallet.GenerateKey()
	url = startRelayWith(t, "127.0.0.1:0", web, rtc.Config{}, func(c *relay.Config) {
		prov, err := store.NewProvider(store.ProviderConfig{Key: key, Ledger: c.Ledger, LedgerID: c.Ledger.ID(), Dir: t.TempDir(),
			Quota: 64 << 20, Rate: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		c.StoreWS = relay.NewWSListener(nil)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { prov.Serve(ctx, c.StoreWS) })
		t.Cleanup(func() { stop(); wg.Wait() }) // after the relay's close
	})
	return url, key.Address()
}

// client.store in a real Chromium with a real relay and ledger: a page
// stores a file (encrypted in the browser with keys from its wallet), lists
// it, gets it back byte-identical (SHA-256) and pays the retrieval per
// chunk: what the page reports paying is the ciphertext's price, and the
// provider's storage channel payouts on the ledger equal it. An unknown id
// is refused with a code, and so is client.fetch on this relay, which is no
// proxy.
func TestBrowserStore(t *testing.T) {
	browsertest.Require(t)
	web := webDir(t)
	data := make([]byte, 2*store.PlainChunkSize+4321)
	r := rand.New(rand.NewPCG(11, 12))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(filepath.Join(web, "notes.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	relayURL, op := startStoreRelay(t, web)
	sum := sha256.Sum256(data)
	var want uint64
	cipher := store.CipherLen(uint64(len(data)))
	for i := uint64(0); i*store.ChunkSize < cipher; i++ {
		want += speed.Price(1<<20, uint64(store.ChunkLen(i, cipher)))
	}
	b := browsertest.Start(t, nil)
	p := b.NewPage(t, relayURL+"/blank.html")
	var got struct {
		Hash, Paid, Retrieved, Unknown, NoProxy string
		Listed                                  []struct{ ID, Name, Rate string }
		Size                                    uint64
		Periods                                 uint32
	}
	p.Eval(t, `(async () => {
		const c = await BTSpeed.start({relay: location.origin})
		await c.wallet.create('correct horse battery')
		await c.wallet.faucet({})
		const file = new File([await (await fetch('notes.bin')).arrayBuffer()], 'notes.bin')
		const rec = await c.store.put(file, {rate: '1.048576', periods: 3, period: 3600})
		const listed = await c.store.list()
		const back = await c.store.get(rec.id)
		const buf = await back.blob.arrayBuffer()
		let unknown = ''
		try { await c.store.get('00') } catch (e) { unknown = e.code }
		let noProxy = ''
		try { await c.fetch('https://example.org/f', {budget: '1'}) } catch (e) { noProxy = e.code }
		return {noProxy, hash: await `+sha256JS("buf")+`, paid: back.paid, retrieved: (await c.store.list())[0].retrieved,
			listed, size: rec.size, periods: rec.periods, unknown}
	})()`, &got)
	if got.Hash != hex.EncodeToString(sum[:]) || got.Size != uint64(len(data)) || got.Periods != 3 {
		t.Fatalf("got back hash %s of a %d-byte record for %d periods; want %x, %d bytes, 3 periods", got.Hash, got.Size, got.Periods, sum, len(data))
	}
	if len(got.Listed) != 1 || got.Listed[0].Name != "notes.bin" || got.Listed[0].Rate != "1.048576" {
		t.Fatalf("listed %+v", got.Listed)
	}
	if got.Paid != speed.FormatBTT(want) || got.Retrieved != got.Paid || got.Unknown != "unknown_object" || got.NoProxy != "no_proxy" {
		t.Fatalf("paid %s (recorded %s), want %s; unknown id: %q; fetch from a relay without the proxy: %q", got.Paid, got.Retrieved, speed.FormatBTT(want), got.Unknown, got.NoProxy)
	}
	if paid := payouts(t, client.New(relayURL+"/ledger", nil), op, speed.ServiceStorage, want); paid != want {
		t.Fatalf("the provider was paid %d base units through storage channels, want %d", paid, want)
	}
}
