package loceval

import (
	"os"
	"testing"
)

// TestTargets runs a small evaluation and checks the targets:
// top-1 >= 0.95 on segment faults, false DEGRADED <= 0.02 on host faults.
func TestTargets(t *testing.T) {
	trials := 40
	if testing.Short() {
		trials = 15
	}
	for _, seed := range []uint64{1, 7} {
		rep, err := Run(Config{Trials: trials, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if testing.Verbose() {
			rep.Print(os.Stdout)
		}
		if rep.SegmentTrials == 0 || rep.HostTrials == 0 {
			t.Fatalf("seed %d: %d segment and %d host trials; want both kinds", seed, rep.SegmentTrials, rep.HostTrials)
		}
		if got := rep.Top1Accuracy(); got < 0.95 {
			t.Errorf("seed %d: top1_accuracy=%.3f, want >= 0.95", seed, got)
		}
		if got := rep.FalseDegradedRate(); got > 0.02 {
			t.Errorf("seed %d: false_degraded_rate=%.3f, want <= 0.02", seed, got)
		}
	}
}
