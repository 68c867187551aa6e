package devnet_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/tron/devnet"
	"github.com/btspeed/btspeed/tron/devnet/devnettest"
)

// TronWeb (TRON's JavaScript SDK, interop/tronweb) against the devnet's
// HTTP API: it reads an account, builds a TRC-10 transfer itself from the
// head block, signs and broadcasts it; the next block moves the balances.
func TestTronWebAgainstTheHTTPAPI(t *testing.T) {
	dir := filepath.Join("..", "..", "interop", "tronweb")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tronweb")); err != nil {
		if os.Getenv("BTSPEED_REQUIRE_INTEROP") != "" {
			t.Fatalf("TronWeb is not installed in %s (npm ci there): %v", dir, err)
		}
		t.Skipf("TronWeb not installed in %s; ./build.sh test installs it and makes this a failure", dir)
	}
	alice, _ := wallet.GenerateKey()
	bob, _ := wallet.GenerateKey()
	clk := devnettest.NewClock(time.Now())
	c, err := devnet.Open(devnet.Config{
		Path:          filepath.Join(t.TempDir(), "tron.db"),
		Asset:         devnet.Asset{ID: btt, Name: "BitTorrent", Abbr: "BTT", Precision: 6, TotalSupply: 1e15, Owner: alice.Address()},
		Accounts:      []devnet.Account{{Address: alice.Address(), TRX: 50_000_000, Asset: 9_000_000}},
		BlockInterval: time.Hour,
		Now:           clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clk.Add(3 * time.Second)
	c.MakeBlock() // a head block that is not the genesis
	srv := httptest.NewServer(c.HTTPHandler())
	defer srv.Close()

	in, _ := json.Marshal(map[string]any{"fullHost": srv.URL, "privateKey": hex.EncodeToString(alice.Bytes()), "to": bob.Address().String(), "tokenId": btt, "amount": 2_500_000})
	cmd := exec.Command("node", "devnet.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node devnet.mjs: %v\n%s", err, stderr.String())
	}
	var res struct {
		Address, Txid, Message, Error string
		TRX, Token                    int64
		Result                        bool
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("devnet.mjs said %q: %v", out, err)
	}
	if res.Error != "" || !res.Result {
		t.Fatalf("TronWeb: %+v", res)
	}
	if res.Address != alice.Address().String() || res.TRX != 50_000_000 || res.Token != 9_000_000 {
		t.Fatalf("TronWeb read the account as %+v", res)
	}
	clk.Add(3 * time.Second)
	if err := c.MakeBlock(); err != nil {
		t.Fatal(err)
	}
	if _, a, _ := c.Balance(bob.Address()); a != 2_500_000 {
		t.Fatalf("bob has %d BTT after TronWeb's transfer", a)
	}
	if trx, a, _ := c.Balance(alice.Address()); a != 6_500_000 || trx != 50_000_000-1_001_000 {
		t.Fatalf("alice has %d sun, %d BTT after TronWeb's transfer", trx, a)
	}
}

// Malformed requests to the HTTP API get an error in TRON's JSON, and the
// chain goes on.
func TestHTTPRefusesMalformedInput(t *testing.T) {
	c, err := devnet.Open(devnet.Config{Path: filepath.Join(t.TempDir(), "tron.db"), Asset: devnet.Asset{ID: btt}, BlockInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(c.HTTPHandler())
	defer srv.Close()
	for _, tc := range []struct{ path, body, want string }{
		{"/wallet/getaccount", `{"address":`, `"Error":"malformed JSON`},
		{"/wallet/getaccount", `{"address":"41zz"}`, `"Error":"invalid address`},
		{"/wallet/broadcasttransaction", `{"raw_data_hex":"zz","signature":["00"]}`, `"code":"OTHER_ERROR"`},
		{"/wallet/broadcasttransaction", `{"raw_data_hex":"0aff","signature":["00"]}`, `"code":"OTHER_ERROR"`},
		{"/wallet/broadcasttransaction", `{"raw_data_hex":"","signature":[]}`, `"result":false`},
		{"/wallet/transferasset", `{"owner_address":"x","to_address":"y","asset_name":"31","amount":1}`, `"Error":"invalid address`},
		{"/wallet/gettransactionbyid", `{"value":"nothex"}`, `{}`},
		{"/wallet/getassetissuebyid", `{"value":"1"}`, `{}`},
	} {
		resp, err := http.Post(srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s %s: %s, want %s", tc.path, tc.body, b, tc.want)
		}
	}
	if err := c.MakeBlock(); err != nil || c.Head() != 1 {
		t.Fatalf("the chain after bad input: head %d, %v", c.Head(), err)
	}
}
