package webpeer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/btspeed/btspeed/ledger/api"
	"github.com/btspeed/btspeed/ledger/client"
	"github.com/btspeed/btspeed/shared/wallet"
)

// keystoreKey is where the encrypted keystore lives in the KV store.
const keystoreKey = "btspeed.keystore"

// Wallet states.
const (
	StateNone     = "none"
	StateLocked   = "locked"
	StateUnlocked = "unlocked"
)

// Errors a user can act on.
var (
	ErrWrongPassword = errors.New("wrong password")
	ErrNoWallet      = errors.New("no wallet yet: create or restore one")
	ErrLocked        = errors.New("the wallet is locked")
	ErrShortPassword = fmt.Errorf("choose a password of at least %d characters", wallet.MinPasswordLen)
)

// Wallet is the user's key, kept in the KV store as an encrypted keystore
// and in memory only while unlocked.
type Wallet struct {
	kv       KV
	ledger   *client.Client
	ledgerID string
	params   wallet.ScryptParams
	onChange func() // the peer's hook: the key came or went
	tron     *tronState
	now      func() time.Time
	log      *slog.Logger

	// mu guards key and serialises writes of the stored keystore (upgrade
	// checks what is stored and replaces it in one step).
	mu  sync.Mutex
	key *wallet.PrivateKey
}

// State returns StateNone, StateLocked or StateUnlocked.
func (w *Wallet) State() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.key != nil {
		return StateUnlocked
	}
	if _, ok := w.kv.Get(keystoreKey); ok {
		return StateLocked
	}
	return StateNone
}

// Address returns the wallet's address, or "" without a wallet.
func (w *Wallet) Address() string {
	w.mu.Lock()
	if w.key != nil {
		defer w.mu.Unlock()
		return w.key.Address().String()
	}
	w.mu.Unlock()
	ks, ok := w.kv.Get(keystoreKey)
	if !ok {
		return ""
	}
	a, err := wallet.KeystoreAddress([]byte(ks))
	if err != nil {
		return ""
	}
	return a.String()
}

// key returns the unlocked key, or nil.
func (w *Wallet) unlocked() *wallet.PrivateKey {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.key
}

// Create makes a new wallet from a new 12-word phrase, stores it encrypted
// with password and unlocks it. The phrase is returned once, for backup.
func (w *Wallet) Create(password string) (phrase, address string, err error) {
	m, err := wallet.NewMnemonic(12)
	if err != nil {
		return "", "", fmt.Errorf("webpeer: new phrase: %w", err)
	}
	address, err = w.fromPhrase(m, password)
	if err != nil {
		return "", "", err
	}
	return m.String(), address, nil
}

// Restore replaces the stored wallet with the one of phrase (the same
// address as wherever it was made) and unlocks it.
func (w *Wallet) Restore(phrase, password string) (address string, err error) {
	m, err := wallet.ParseMnemonic(strings.Join(strings.Fields(strings.ToLower(phrase)), " "))
	if err != nil {
		return "", err
	}
	return w.fromPhrase(m, password)
}

func (w *Wallet) fromPhrase(m wallet.Mnemonic, password string) (string, error) {
	if wallet.CheckNewPassword([]byte(password)) != nil {
		return "", ErrShortPassword
	}
	k, err := m.DeriveKey("", 0)
	if err != nil {
		return "", fmt.Errorf("webpeer: derive key: %w", err)
	}
	ks, err := wallet.EncryptKeystore(k, []byte(password), w.params)
	if err != nil {
		return "", fmt.Errorf("webpeer: encrypt keystore: %w", err)
	}
	w.mu.Lock()
	err = w.kv.Set(keystoreKey, string(ks))
	if err == nil {
		w.key = k
	}
	w.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("webpeer: store keystore: %w", err)
	}
	w.changed()
	return k.Address().String(), nil
}

// Unlock decrypts the stored keystore; a wrong password changes nothing.
// A keystore with a weaker key derivation than the wallet's (one stored
// before it was raised) is re-encrypted with it (upgrade).
func (w *Wallet) Unlock(password string) error {
	ks, ok := w.kv.Get(keystoreKey)
	if !ok {
		return ErrNoWallet
	}
	k, err := wallet.DecryptKeystore([]byte(ks), []byte(password))
	if errors.Is(err, wallet.ErrWrongPassword) {
		return ErrWrongPassword
	}
	if err != nil {
		return fmt.Errorf("webpeer: the stored keystore is unreadable: %w", err)
	}
	if err := w.upgrade(ks, k, password); err != nil {
		// The old keystore is still there and still opens: unlock anyway.
		w.log.Warn("wallet: the keystore keeps its old key derivation", "err", err)
	}
	w.mu.Lock()
	w.key = k
	w.mu.Unlock()
	w.changed()
	return nil
}

// upgrade re-encrypts old, the stored keystore of k that password just
// opened, with the wallet's parameters if its key derivation is weaker.
// The new keystore replaces old only once it is known to open to the same
// key, and only if old is still what is stored (no other tab replaced it
// meanwhile); a KV write is all or nothing, so whatever fails, old stays.
func (w *Wallet) upgrade(old string, k *wallet.PrivateKey, password string) error {
	weaker, err := wallet.KeystoreWeakerThan([]byte(old), w.params)
	if err != nil || !weaker {
		return err
	}
	ks, err := wallet.EncryptKeystore(k, []byte(password), w.params)
	if err != nil {
		return fmt.Errorf("webpeer: re-encrypting the keystore: %w", err)
	}
	back, err := wallet.DecryptKeystore(ks, []byte(password))
	if err != nil || back.Address() != k.Address() {
		return fmt.Errorf("webpeer: the re-encrypted keystore does not open to the same key (%v)", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cur, ok := w.kv.Get(keystoreKey); !ok || cur != old {
		return nil // replaced meanwhile (a restore): nothing to upgrade
	}
	if err := w.kv.Set(keystoreKey, string(ks)); err != nil {
		return fmt.Errorf("webpeer: storing the re-encrypted keystore: %w", err)
	}
	return nil
}

// Lock forgets the key in memory.
func (w *Wallet) Lock() {
	w.mu.Lock()
	w.key = nil
	w.mu.Unlock()
	w.changed()
}

func (w *Wallet) changed() {
	if w.onChange != nil {
		w.onChange()
	}
}

// ExportKeystore returns the encrypted keystore (Web3 Secret Storage v3).
func (w *Wallet) ExportKeystore() (string, error) {
	ks, ok := w.kv.Get(keystoreKey)
	if !ok {
		return "", ErrNoWallet
	}
	return ks, nil
}

// Balance is what the ledger holds for the wallet, in base units.
type Balance struct {
	Ledger uint64 // spendable
	Locked uint64 // deposited in open payment channels
}

// Balance reads the wallet's account from the ledger.
func (w *Wallet) Balance(ctx context.Context) (Balance, error) {
	addr := w.Address()
	if addr == "" {
		return Balance{}, ErrNoWallet
	}
	a, err := wallet.ParseAddress(addr)
	if err != nil {
		return Balance{}, err
	}
	acct, err := w.ledger.Account(ctx, a)
	if err != nil {
		return Balance{}, fmt.Errorf("webpeer: balance: %w", err)
	}
	b := Balance{Ledger: uint64(acct.Balance)}
	chans, err := w.ledger.ChannelsOf(ctx, a, 500)
	if err != nil {
		return Balance{}, fmt.Errorf("webpeer: channels: %w", err)
	}
	for _, c := range chans {
		if !c.Closed && c.Payer == a {
			b.Locked += uint64(c.Deposit)
		}
	}
	return b, nil
}

// Faucet solves the ledger faucet's proof of work for the wallet and claims
// it; progress (may be nil) hears the number of tries now and then. The
// solver yields regularly, so the browser's event loop keeps running.
func (w *Wallet) Faucet(ctx context.Context, progress func(tries uint64)) (api.FaucetResult, error) {
	k := w.unlocked()
	if k == nil {
		return api.FaucetResult{}, ErrLocked
	}
	res, info, err := w.ledger.ClaimFaucet(ctx, k, progress)
	if api.CodeOf(err) == api.CodeFaucetClaimed {
		return api.FaucetResult{}, faucetClaimedError{next: time.Unix(info.PeriodEnds, 0), err: err}
	}
	if err != nil {
		return api.FaucetResult{}, fmt.Errorf("webpeer: faucet: %w", err)
	}
	return res, nil
}

// faucetClaimedError says a second claim in one period was refused, and
// when the next grant opens; the ledger's error stays in the chain (its code
// is faucet_claimed).
type faucetClaimedError struct {
	next time.Time
	err  error
}

func (e faucetClaimedError) Error() string {
	return "you already claimed today's test BTT: the next grant opens at " + e.next.UTC().Format("15:04 UTC on Jan 2")
}

func (e faucetClaimedError) Unwrap() error { return e.err }
