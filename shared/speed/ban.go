package speed

import "time"

// BanList remembers banned peers until their ban expires (M20, M21). Keys are
// whatever identifies a peer to the caller: a ledger account, an IP address.
// It is not safe for concurrent use; its owner serializes calls.
type BanList struct {
	until map[string]time.Time
}

// NewBanList returns an empty list.
func NewBanList() *BanList { return &BanList{until: make(map[string]time.Time)} }

// Ban bans key until now+d, extending an existing ban, never shortening it.
func (b *BanList) Ban(key string, now time.Time, d time.Duration) {
	if t := now.Add(d); t.After(b.until[key]) {
		b.until[key] = t
	}
}

// Banned reports whether key is banned at now, forgetting expired bans.
func (b *BanList) Banned(key string, now time.Time) bool {
	t, ok := b.until[key]
	if !ok {
		return false
	}
	if !now.Before(t) {
		delete(b.until, key)
		return false
	}
	return true
}

// Len returns the number of bans held, expired ones included until looked up.
func (b *BanList) Len() int { return len(b.until) }
