package engine

// SpeedJobsRun is how many jobs the Speed workers of t's connections ran.
func (t *Torrent) SpeedJobsRun() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sp == nil {
		return 0
	}
	return t.sp.jobs
}
