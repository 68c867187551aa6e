package engine

// AutoPieceLength picks a piece length giving about 1,000 to 2,000 pieces,
// a power of two from 16 KiB to 16 MiB (what Transmission does).
func AutoPieceLength(total int64) int64 {
	pl := int64(16 << 10)
	for pl < 16<<20 && total/pl > 2000 {
		pl *= 2
	}
	return pl
}
