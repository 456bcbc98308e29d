package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/health/loceval"
)

func newEvalLocalizationCmd() *cobra.Command {
	var cfg loceval.Config
	var misses bool
	cmd := &cobra.Command{
		Use:   "eval-localization",
		Short: "Measure how well the health indicator localizes random faults (offline)",
		Long: `Run random single-fault scenarios through the network health indicator, offline (no
server): each trial draws a topology (1-2 regions, 2-3 zones each, 1-3 subnets per zone,
1-2 services), a simulated fleet of 5-10 agents per zone, a few healthy windows to learn
baselines, then one fault:

  segment faults  loss 1-10% on one direction of an inter-zone link, a region link or
                  a zone-to-service link; +5 to +50 ms RTT on an inter-zone link
  host faults     loss 2-10% or +5 to +50 ms RTT on every flow of one host

and judges the first faulty window. A segment fault counts as correct when its segment
is the top-ranked degraded segment (either direction for RTT faults); a host fault is
a false DEGRADED when any segment is judged degraded. Segment faults whose segment
carried fewer than two independent host pairs are counted apart (unjudgeable).

The last two lines are top1_accuracy= (segment faults) and false_degraded_rate= (host
faults).`,
		Example: `  flowlens sim eval-localization --trials 200 --seed 1
  flowlens sim eval-localization --trials 200 --seed 7 --period 10s --misses`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := loceval.Run(cfg)
			if err != nil {
				return err
			}
			if !misses {
				rep.Misses = nil
			}
			rep.Print(os.Stdout)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Trials, "trials", 200, "number of random scenarios")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed; the same seed gives the same scenarios")
	f.DurationVar(&cfg.Period, "period", time.Minute, "evaluation window (a monitor's period)")
	f.IntVar(&cfg.BaselineWindows, "baseline-windows", 4, "healthy windows before the fault")
	f.BoolVar(&misses, "misses", false, "list every miss with the top-ranked segments")
	return cmd
}
