// Package sim is a simulated fleet: virtual agents placed in the subnets of a
// topology, generating realistic flow reports (heavy talkers, many small
// flows, short-lived connections, intra- and cross-zone traffic, services and
// internet) and posting them through the real publisher.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowlens/flowlens/publisher"
	"github.com/flowlens/flowlens/topology"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// Config describes one simulator run.
type Config struct {
	Server        string
	Token         string
	Topology      *topology.Topology
	Agents        int           // default 20
	FlowsPerAgent int           // flows each agent opens; peers also report the server side
	Interval      time.Duration // default 5s
	Duration      time.Duration // 0: until ctx is cancelled
	Seed          uint64
	Faults        []Fault
	// InternetClients adds inbound clients spread over the city-networks
	// of InternetPlan (internet.go).
	InternetClients int
	// Stepped, if set, runs on simulated time: each interval is sent as
	// soon as the previous one is acknowledged, then Stepped advances
	// (stepped.go).
	Stepped      *SteppedClock
	SpoolDir     string        // default: a temporary directory, removed at the end
	DrainTimeout time.Duration // how long to wait for acknowledgements at the end, default 5m
	Compression  string
	// Replay, when > 0, generates Replay intervals per agent and then sends
	// them again in turn (with new times and sequence numbers). It makes the
	// simulator a cheap load generator for benchmarks; faults with after=
	// or for= do not change replayed intervals.
	Replay int
	// InsecureSkipVerify accepts any TLS certificate (self-signed labs).
	InsecureSkipVerify bool
	// Progress, if set, is called after every interval with the totals so far.
	Progress func(Summary)
}

// Totals are what a run sent or had acknowledged.
type Totals struct {
	Bytes           uint64 `json:"bytes"`
	Retransmissions uint64 `json:"retransmissions"`
	Flows           uint64 `json:"flows"`
	Reports         uint64 `json:"reports"`
}

// Summary is printed as JSON at the end of a run.
type Summary struct {
	Sent            Totals  `json:"sent"`
	Acked           Totals  `json:"acked"`
	Agents          int     `json:"agents"`
	DurationSeconds float64 `json:"duration_seconds"`
	Spooled         uint64  `json:"spooled"`
	Dropped         uint64  `json:"dropped"`
	Failed          uint64  `json:"failed"`
	// UnexpectedDuplicates are reports the server answered duplicate:true
	// on their first sending: it had another report under their key, so
	// their data was not stored (see publisher.Stats).
	UnexpectedDuplicates uint64 `json:"unexpected_duplicates"`
}

type counter struct{ bytes, retrans, flows, reports atomic.Uint64 }

func (c *counter) add(r *pb.Report) {
	var b, rt uint64
	for _, f := range r.Flows {
		b += f.BytesSent + f.BytesReceived
		rt += f.Retransmissions
	}
	c.bytes.Add(b)
	c.retrans.Add(rt)
	c.flows.Add(uint64(len(r.Flows)))
	c.reports.Add(1)
}

// addRaw counts a marshalled report without unmarshalling it: it walks the
// wire format for the few fields the totals need.
func (c *counter) addRaw(_ uint64, data []byte) {
	var b, rt, flows uint64
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return
		}
		data = data[n:]
		if num == 6 && typ == protowire.BytesType { // Report.flows
			f, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return
			}
			fb, frt := flowTotals(f)
			b, rt, flows = b+fb, rt+frt, flows+1
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return
		}
		data = data[m:]
	}
	c.bytes.Add(b)
	c.retrans.Add(rt)
	c.flows.Add(flows)
	c.reports.Add(1)
}

// flowTotals reads bytes_sent (6), bytes_received (7) and
// retransmissions (10) of one marshalled Flow.
func flowTotals(data []byte) (bytes, retrans uint64) {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return
		}
		data = data[n:]
		if typ == protowire.VarintType && (num == 6 || num == 7 || num == 10) {
			v, m := protowire.ConsumeVarint(data)
			if m < 0 {
				return
			}
			if num == 10 {
				retrans += v
			} else {
				bytes += v
			}
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return
		}
		data = data[m:]
	}
	return
}

func (c *counter) totals() Totals {
	return Totals{Bytes: c.bytes.Load(), Retransmissions: c.retrans.Load(), Flows: c.flows.Load(), Reports: c.reports.Load()}
}

// Run drives the fleet until Duration passes or ctx is done, then waits for
// every report to be acknowledged (up to DrainTimeout) and returns totals.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (Summary, error) {
	if err := cfg.defaults(); err != nil {
		return Summary{}, err
	}
	fleet, err := newFleet(cfg)
	if err != nil {
		return Summary{}, err
	}
	spool := cfg.SpoolDir
	if spool == "" {
		if spool, err = os.MkdirTemp("", "flowlens-sim-"); err != nil {
			return Summary{}, err
		}
		defer os.RemoveAll(spool)
	}
	var sent, acked counter
	pubs := make([]*publisher.Publisher, len(fleet.agents))
	for i, a := range fleet.agents {
		pubs[i], err = publisher.New(publisher.Config{
			Server: cfg.Server, Token: cfg.Token, Compression: cfg.Compression,
			InsecureSkipVerify: cfg.InsecureSkipVerify,
			SpoolDir:           filepath.Join(spool, a.hostID),
			OnAckRaw:           acked.addRaw,
		}, log.With("agent", a.hostID), nil)
		if err != nil {
			return Summary{}, fmt.Errorf("publisher for %s: %w", a.hostID, err)
		}
		pubs[i].Start()
	}
	started := time.Now()
	progress := func() Summary {
		return Summary{Sent: sent.totals(), Acked: acked.totals(), Agents: len(pubs), DurationSeconds: time.Since(started).Seconds()}
	}
	var runErr error
	if cfg.Stepped != nil {
		runErr = driveStepped(ctx, cfg, fleet, pubs, &sent, progress)
	} else {
		runErr = drive(ctx, cfg, fleet, pubs, &sent, progress)
	}
	drainErr := drain(cfg.DrainTimeout, pubs)
	sum := Summary{Sent: sent.totals(), Acked: acked.totals(), Agents: len(pubs), DurationSeconds: time.Since(started).Seconds()}
	for _, p := range pubs {
		st := p.Stats()
		sum.Spooled += st.Spooled
		sum.Dropped += st.Dropped
		sum.Failed += st.Failed
		sum.UnexpectedDuplicates += st.UnexpectedDuplicates
	}
	if runErr != nil {
		return sum, runErr
	}
	if drainErr != nil {
		return sum, fmt.Errorf("%d of %d reports not acknowledged: %w", sum.Sent.Reports-sum.Acked.Reports, sum.Sent.Reports, drainErr)
	}
	return sum, nil
}

func (c *Config) defaults() error {
	if c.Topology == nil {
		return errors.New("a topology is needed to place the simulated agents")
	}
	if len(c.Topology.Subnets) == 0 {
		return errors.New("the topology has no subnets to place simulated agents in")
	}
	if c.Agents <= 0 {
		c.Agents = 20
	}
	if c.FlowsPerAgent <= 0 {
		c.FlowsPerAgent = 50
	}
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Minute
	}
	for _, f := range c.Faults {
		if err := f.Validate(c.Topology, c.Agents); err != nil {
			return err
		}
	}
	return nil
}

// drive ticks every interval: each agent builds its report for the interval
// that just ended and hands it to its publisher.
func drive(ctx context.Context, cfg Config, fleet *fleet, pubs []*publisher.Publisher, sent *counter, progress func() Summary) error {
	start := time.Now()
	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	last := start
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline:
			return nil
		case now := <-tick.C:
			if err := fleet.emit(last, now, now.Sub(start), pubs, sent); err != nil {
				return err
			}
			last = now
			if cfg.Progress != nil {
				cfg.Progress(progress())
			}
		}
	}
}

// emit generates one interval for every agent, spread over both cores.
func (f *fleet) emit(from, to time.Time, elapsed time.Duration, pubs []*publisher.Publisher, sent *counter) error {
	f.tick++
	var wg sync.WaitGroup
	errs := make([]error, len(f.agents))
	workers := 2
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(f.agents); i += workers {
				r := f.agents[i].report(f, from, to, elapsed)
				sent.add(r)
				errs[i] = pubs[i].Publish(r)
			}
		}(w)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func drain(timeout time.Duration, pubs []*publisher.Publisher) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	for _, p := range pubs {
		if err := p.Flush(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range pubs {
		stopCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
		p.Stop(stopCtx)
		c()
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
