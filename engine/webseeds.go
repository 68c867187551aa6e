package engine

func (t *Torrent) startWebSeeds() {}
