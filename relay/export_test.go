package relay

// ProxyWSReleases returns a channel that receives each time one of the
// proxy WebSocket transport's per-address slots is released (room for 16
// unread): for tests that wait for the relay to see a close.
func (r *Relay) ProxyWSReleases() <-chan struct{} {
	ch := make(chan struct{}, 16)
	p := r.proxy.ws.perAddr
	p.mu.Lock()
	p.released = func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
	return ch
}
