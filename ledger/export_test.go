package ledger

// CheckWaiters is how many callers wait for a shared invariant scan.
func (l *Ledger) CheckWaiters() int {
	l.checks.mu.Lock()
	defer l.checks.mu.Unlock()
	return l.checks.waiting
}
