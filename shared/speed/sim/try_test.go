package sim
import ("testing")
func TestTry(t *testing.T){
	for _, up := range []float64{32, 128}{
	for _, dm := range []float64{40, 400}{
	for _, sz := range []int{1024, 4096}{
	p := DefaultSwarmParams(); p.Swarms=40; p.OnH=8; p.OffH=8; p.HitAndRun=0.8; p.UpMedianKiBs=up; p.DemandMedian=dm; p.SizeMiB=sz
	r := RunSwarms(p)
	t.Logf("up %v dm %v sz %v d7 %.2f d30 %.2f recon %.3f (%d) losses %d median %.2fh completed %.2f", up, dm, sz, r.Avail[7*24-1], r.Avail[len(r.Avail)-1], r.SeedlessReconstructible(), r.SeedlessObs, r.SeedLosses, r.MedianDownloadH(), r.Completed())
	}}}
}
