//go:build !js

package webpeer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btspeed/btspeed/engine/rtc/rtctest"
	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/relay"
	"github.com/btspeed/btspeed/server/tronsetup"
	"github.com/btspeed/btspeed/shared/wallet"
	"github.com/btspeed/btspeed/webpeer"
	"github.com/btspeed/btspeed/webpeer/webpeertest"
)

// startExchangeRelay runs a relay whose embedded ledger has an exchange to
// the embedded TRON devnet; wrap, when set, sits in front of its /tron/.
func startExchangeRelay(t *testing.T, x *webpeertest.Exchange, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.Config{PublicURL: "http://" + ln.Addr().String(), RTC: rtctest.Loopback(), LedgerRate: 1000}
	x.Relay(&cfg)
	if wrap != nil {
		cfg.Tron = wrap(cfg.Tron)
	}
	rl, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { srv.Close(); rl.Close() })
	return srv.URL
}

// waitFor polls cond every 100 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30 s (%v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The wallet's TRON side against the real devnet and exchange: the TRON
// balance, a deposit (checked, signed, broadcast, credited once it has its
// confirmations), withdrawals to the wallet's own address and to another,
// each followed until done, the history of both, and the balances on both
// sides exact to the base unit, fees included; the ledger's books and the
// exchange's reserve agree.
func TestDepositAndWithdraw(t *testing.T) {
	ctx := context.Background()
	x := webpeertest.Start(t)
	url := startExchangeRelay(t, x, nil)
	p := newPeer(t, url, &webpeer.MapKV{})
	w := p.Wallet()
	if _, err := w.Deposit(ctx, 1); !errors.Is(err, webpeer.ErrLocked) {
		t.Fatalf("deposit without a wallet: %v", err)
	}
	if _, _, err := w.Create("correct horse battery"); err != nil {
		t.Fatal(err)
	}
	addr, _ := wallet.ParseAddress(w.Address())

	info := newWalletSeesTheExchange(t, ctx, x, w, addr)
	fundedWalletRefusesBadDeposits(t, ctx, x, w, addr)
	dep := deposit25Credited(t, ctx, x, w, info)
	other, _ := wallet.GenerateKey()
	impossibleWithdrawalsRefused(t, ctx, w, other.Address())
	st, st2 := withdrawHomeAndToAnother(t, ctx, x, w, addr, other.Address())
	historyListsAllThree(t, ctx, w, []webpeer.Movement{
		{Kind: webpeer.KindWithdrawal, Amount: 3_000_000, Status: api.WithdrawalDone, ID: st2.ID, To: other.Address().String()},
		{Kind: webpeer.KindWithdrawal, Amount: 10_000_000, Status: api.WithdrawalDone, ID: st.ID, To: addr.String()},
		{Kind: webpeer.KindDeposit, Amount: 25_000_000, Status: webpeer.DepositDone, TxID: dep.TxID},
	})

	// The books and the reserve: the exchange holds its backing plus 25
	// minus 13 BTT, and paid two fees and the creation of the other
	// address's account in TRX.
	inv, err := client.New(url+"/ledger", nil).Invariant(ctx)
	if err != nil || !inv.OK || inv.Deposited != 25_000_000 || inv.Withdrawn != 13_000_000 || inv.Reserve == nil || !inv.Reserve.OK ||
		inv.Reserve.Balance != tronsetup.DevBacking+12_000_000 || inv.Reserve.Required != tronsetup.DevBacking+12_000_000 {
		t.Fatalf("invariant %+v reserve %+v %v", inv, inv.Reserve, err)
	}
	if trx, btt := x.Balances(t, info.Address); trx != 1_000_000_000_000-2*webpeertest.Fee-webpeertest.AccountFee || btt != tronsetup.DevBacking+12_000_000 {
		t.Fatalf("the exchange on TRON: %d sun, %d BTT", trx, btt)
	}
}

// newWalletSeesTheExchange checks what a new wallet (at addr) sees: the
// relay's exchange, nothing on TRON, and a deposit refused for want of
// BTT there. It returns the exchange.
func newWalletSeesTheExchange(t *testing.T, ctx context.Context, x *webpeertest.Exchange, w *webpeer.Wallet, addr wallet.Address) api.ExchangeInfo {
	t.Helper()
	info, err := w.Exchange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Address != x.TRON.Policy.Address || info.Token != webpeertest.Token || info.Confirmations != 2 || info.MinWithdrawal != 1_000_000 || info.Available != tronsetup.DevBacking {
		t.Fatalf("exchange %+v", info)
	}
	acct, err := w.TronAccount(ctx)
	if err != nil || acct != (webpeer.TronAccount{Address: addr.String(), Token: webpeertest.Token}) {
		t.Fatalf("a new address on TRON: %+v %v", acct, err)
	}
	if _, err := w.Deposit(ctx, 5_000_000); !errors.Is(err, webpeer.ErrTronBalance) || !strings.Contains(err.Error(), "has 0.000000 BTT on TRON; the deposit is 5.000000") {
		t.Fatalf("a deposit with nothing on TRON: %v", err)
	}
	return info
}

// fundedWalletRefusesBadDeposits funds addr with 10 TRX and 100 BTT on
// TRON: the wallet sees them, and refuses deposits of more, or of 0.
func fundedWalletRefusesBadDeposits(t *testing.T, ctx context.Context, x *webpeertest.Exchange, w *webpeer.Wallet, addr wallet.Address) {
	t.Helper()
	x.Fund(t, addr, 10_000_000, 100_000_000) // 10 TRX, 100 BTT
	acct, err := w.TronAccount(ctx)
	if err != nil || acct.TRX != 10_000_000 || acct.BTT != 100_000_000 || !acct.Exists {
		t.Fatalf("funded: %+v %v", acct, err)
	}
	if _, err := w.Deposit(ctx, 100_000_001); !errors.Is(err, webpeer.ErrTronBalance) {
		t.Fatalf("a deposit of more than the TRON balance: %v", err)
	}
	if _, err := w.Deposit(ctx, 0); !errors.Is(err, webpeer.ErrBadAmount) {
		t.Fatalf("a deposit of 0: %v", err)
	}
}

// deposit25Credited deposits 25 BTT to the exchange info and follows it
// in the history until the ledger credits it; TRON shows the fee paid.
func deposit25Credited(t *testing.T, ctx context.Context, x *webpeertest.Exchange, w *webpeer.Wallet, info api.ExchangeInfo) webpeer.DepositSent {
	t.Helper()
	dep, err := w.Deposit(ctx, 25_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(dep.TxID) != 64 || dep.Amount != 25_000_000 || dep.Exchange != info.Address.String() || time.Until(dep.Expiration) <= 0 {
		t.Fatalf("deposit %+v", dep)
	}
	ms, err := w.TronHistory(ctx)
	if err != nil || len(ms) != 1 || ms[0].Kind != webpeer.KindDeposit || ms[0].TxID != dep.TxID || ms[0].Amount != 25_000_000 ||
		(ms[0].Status != webpeer.DepositSentState && ms[0].Status != webpeer.DepositConfirming) {
		t.Fatalf("history right after the deposit: %+v %v", ms, err)
	}
	block := x.WaitInBlock(t, dep.TxID)
	waitFor(t, "the deposit credited", func() (bool, error) {
		b, err := w.Balance(ctx)
		return b.Ledger == 25_000_000, err
	})
	ms, err = w.TronHistory(ctx)
	if err != nil || len(ms) != 1 || ms[0].Status != webpeer.DepositDone || ms[0].TxID != dep.TxID || ms[0].Amount != 25_000_000 {
		t.Fatalf("history once credited: %+v %v", ms, err)
	}
	acct, _ := w.TronAccount(ctx)
	if acct.TRX != 10_000_000-webpeertest.Fee || acct.BTT != 75_000_000 {
		t.Fatalf("TRON after the deposit (block %d): %+v", block, acct)
	}
	return dep
}

// impossibleWithdrawalsRefused checks withdrawals that cannot be: of 0,
// below the minimum, to a bad address or a hex one (other's), more than
// the ledger balance.
func impossibleWithdrawalsRefused(t *testing.T, ctx context.Context, w *webpeer.Wallet, other wallet.Address) {
	t.Helper()
	for _, c := range []struct {
		amount uint64
		to     string
		want   error
		msg    string
	}{
		{0, "", webpeer.ErrBadAmount, ""},
		{500_000, "", webpeer.ErrBelowMinimum, "the smallest is 1.000000 BTT"},
		{5_000_000, "Tnot-an-address", webpeer.ErrBadAddress, `"Tnot-an-address"`},
		{5_000_000, other.Hex(), webpeer.ErrBadAddress, ""},
		{25_000_001, "", webpeer.ErrLedgerBalance, ""},
	} {
		if _, err := w.Withdraw(ctx, c.amount, c.to); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Fatalf("withdraw %d to %q: %v, want %v", c.amount, c.to, err, c.want)
		}
	}
}

// withdrawHomeAndToAnother withdraws 10 BTT back to the wallet's own
// address (addr) and 3 to other, follows both until done, and checks the
// balances on TRON. It returns both withdrawals as queued.
func withdrawHomeAndToAnother(t *testing.T, ctx context.Context, x *webpeertest.Exchange, w *webpeer.Wallet, addr, other wallet.Address) (st, st2 api.WithdrawalStatus) {
	t.Helper()
	st, err := w.Withdraw(ctx, 10_000_000, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != api.WithdrawalQueued || st.To != addr || st.Account != addr || st.Amount != 10_000_000 || len(st.ID) != 64 {
		t.Fatalf("withdrawal %+v", st)
	}
	st2, err = w.Withdraw(ctx, 3_000_000, " "+other.String()+" ")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := w.Balance(ctx); b.Ledger != 12_000_000 {
		t.Fatalf("ledger balance after withdrawing 13 of 25: %d", b.Ledger)
	}
	for _, id := range []string{st.ID, st2.ID} {
		waitFor(t, "withdrawal "+id+" done", func() (bool, error) {
			s, err := w.Withdrawal(ctx, id)
			return s.Status == api.WithdrawalDone, err
		})
	}
	done, err := w.Withdrawal(ctx, strings.ToUpper(st.ID))
	if err != nil || done.Status != api.WithdrawalDone || done.Block == 0 || len(done.TxID) != 64 || done.Attempts != 1 {
		t.Fatalf("done withdrawal %+v %v", done, err)
	}
	if _, err := w.Withdrawal(ctx, "nope"); err == nil {
		t.Fatal("a malformed withdrawal id: no error")
	}
	acct, _ := w.TronAccount(ctx)
	if acct.TRX != 10_000_000-webpeertest.Fee || acct.BTT != 85_000_000 {
		t.Fatalf("TRON after the withdrawal: %+v", acct)
	}
	if trx, btt := x.Balances(t, other); trx != 0 || btt != 3_000_000 {
		t.Fatalf("the other address on TRON: %d sun, %d BTT", trx, btt)
	}
	return st, st2
}

// historyListsAllThree checks the wallet's TRON history is want: the two
// withdrawals, then the deposit, each done with its transaction.
func historyListsAllThree(t *testing.T, ctx context.Context, w *webpeer.Wallet, want []webpeer.Movement) {
	t.Helper()
	ms, err := w.TronHistory(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("history: %+v %v", ms, err)
	}
	// Two withdrawals in the same second keep the ledger's order (newest
	// first) or are swapped by time; compare as a set of the two.
	if ms[0].ID == want[1].ID {
		ms[0], ms[1] = ms[1], ms[0]
	}
	for i, m := range ms {
		if m.Kind != want[i].Kind || m.Amount != want[i].Amount || m.Status != want[i].Status || m.ID != want[i].ID || m.To != want[i].To ||
			(want[i].TxID != "" && m.TxID != want[i].TxID) || len(m.TxID) != 64 || m.Time.IsZero() {
			t.Fatalf("history[%d] = %+v, want %+v", i, m, want[i])
		}
		if m.Kind == webpeer.KindWithdrawal && m.Block == 0 {
			t.Fatalf("history[%d]: a done withdrawal with no block", i)
		}
	}
}

// A TRON node that builds another transfer than the one asked for (here:
// one more base unit) gets nothing signed: the deposit fails with
// ErrNodeBuilt and nothing leaves the wallet's TRON address.
func TestDepositRefusesWhatTheNodeBuilt(t *testing.T) {
	ctx := context.Background()
	x := webpeertest.Start(t)
	var broadcasts atomic.Int32
	url := startExchangeRelay(t, x, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/wallet/transferasset":
				var in map[string]any
				b, _ := io.ReadAll(r.Body)
				json.Unmarshal(b, &in)
				in["amount"] = in["amount"].(float64) + 1
				b, _ = json.Marshal(in)
				r.Body = io.NopCloser(bytes.NewReader(b))
				r.ContentLength = int64(len(b))
			case "/wallet/broadcasttransaction":
				broadcasts.Add(1)
			}
			h.ServeHTTP(rw, r)
		})
	})
	p := newPeer(t, url, &webpeer.MapKV{})
	w := p.Wallet()
	if _, _, err := w.Create("correct horse battery"); err != nil {
		t.Fatal(err)
	}
	addr, _ := wallet.ParseAddress(w.Address())
	x.Fund(t, addr, 10_000_000, 100_000_000)
	_, err := w.Deposit(ctx, 25_000_000)
	if !errors.Is(err, webpeer.ErrNodeBuilt) || !strings.Contains(err.Error(), "it sends 25000001, not 25000000") {
		t.Fatalf("deposit through a lying node: %v", err)
	}
	x.WaitBlocks(t, 3) // a transfer broadcast would be in one by now
	if trx, btt := x.Balances(t, addr); broadcasts.Load() != 0 || trx != 10_000_000 || btt != 100_000_000 {
		t.Fatalf("after the refused deposit: %d broadcasts, %d sun, %d BTT", broadcasts.Load(), trx, btt)
	}
	if ms, err := w.TronHistory(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("history: %+v %v", ms, err)
	}
}

// A ledger without an exchange, and a relay without TRON: clear errors.
// An exchange whose reserve holds only what was deposited refuses to pay
// out more, before the ledger is asked.
func TestTronErrors(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, startRelay(t), &webpeer.MapKV{})
	w := p.Wallet()
	if _, _, err := w.Create("correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exchange(ctx); !errors.Is(err, webpeer.ErrNoExchange) {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := w.Withdraw(ctx, 5_000_000, ""); !errors.Is(err, webpeer.ErrNoExchange) {
		t.Fatalf("withdraw: %v", err)
	}
	if _, err := w.Deposit(ctx, 5_000_000); !errors.Is(err, webpeer.ErrNoExchange) {
		t.Fatalf("deposit: %v", err)
	}
	if _, err := w.TronAccount(ctx); !errors.Is(err, webpeer.ErrNoTron) {
		t.Fatalf("TRON balance: %v", err)
	}

	x := webpeertest.Start(t, func(f *tronsetup.Flags) { f.Backing = "0" })
	p = newPeer(t, startExchangeRelay(t, x, nil), &webpeer.MapKV{})
	w = p.Wallet()
	if _, _, err := w.Create("correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Faucet(ctx, nil); err != nil {
		t.Fatal(err)
	}
	addr, _ := wallet.ParseAddress(w.Address())
	x.Fund(t, addr, 10_000_000, 100_000_000)
	if _, err := w.Deposit(ctx, 2_000_000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deposit credited", func() (bool, error) {
		info, err := w.Exchange(ctx)
		return info.Available == 2_000_000, err
	})
	if _, err := w.Withdraw(ctx, 3_000_000, ""); !errors.Is(err, webpeer.ErrReserve) || !strings.Contains(err.Error(), "it can pay out 2.000000 BTT more") {
		t.Fatalf("a withdrawal over the reserve: %v", err)
	}

	// BTT on TRON but no TRX for the fee: the node refuses to build the
	// transfer, and the page says why.
	p = newPeer(t, startExchangeRelay(t, x, nil), &webpeer.MapKV{})
	w = p.Wallet()
	if _, _, err := w.Create("correct horse battery"); err != nil {
		t.Fatal(err)
	}
	addr, _ = wallet.ParseAddress(w.Address())
	x.Fund(t, addr, 0, 5_000_000)
	if _, err := w.Deposit(ctx, 1_000_000); !errors.Is(err, webpeer.ErrTronBalance) || !strings.Contains(err.Error(), "has 0 sun for a fee of 1000") {
		t.Fatalf("a deposit with no TRX: %v", err)
	}
}
