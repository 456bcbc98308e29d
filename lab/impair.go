package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NftTable is the nft table (family netdev) that holds every loss rule of a
// lab namespace; heal deletes it.
const NftTable = "flowlens_lab"

// DefaultQueue is how much queueing delay the shaper's FIFO holds at its
// rate: enough for a loaded bottleneck to raise RTT well above the idle
// sub-millisecond RTT, bounded so that TCP still sees drops and backs off.
const DefaultQueue = 100 * time.Millisecond

// Impairment is a fault on one target: the inter-zone link or one host's
// link to its bridge. Loss drops that share of packets in both directions;
// Rate shapes both directions with HTB (a bottleneck with a FIFO of Queue).
type Impairment struct {
	Link string `json:"link,omitempty"`
	Host string `json:"host,omitempty"`
	// Loss is a percentage, 0 < Loss <= 100, with at most two decimals.
	Loss float64 `json:"loss_percent,omitempty"`
	// Rate is a tc rate such as "10mbit"; RateBits is the same in bit/s.
	Rate     string        `json:"rate,omitempty"`
	RateBits uint64        `json:"rate_bits,omitempty"`
	Queue    time.Duration `json:"queue,omitempty"`
}

// Target names what the impairment applies to: "link zone-a:zone-b" or
// "host fl-a1-h1".
func (i Impairment) Target() string {
	if i.Link != "" {
		return "link " + i.Link
	}
	return "host " + i.Host
}

func (i Impairment) String() string {
	var parts []string
	if i.Loss > 0 {
		parts = append(parts, "loss "+formatPercent(i.Loss))
	}
	if i.Rate != "" {
		parts = append(parts, fmt.Sprintf("rate %s queue %s", i.Rate, i.Queue))
	}
	return i.Target() + ": " + strings.Join(parts, ", ")
}

// ParseLoss reads a loss rate such as "5%", "5" or "0.5%". Two decimals at
// most, because the nft rule draws from numgen modulo 10000.
func ParseLoss(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("loss %q: want a percentage like 5%% or 0.5%%", s)
	case v <= 0 || v > 100:
		return 0, fmt.Errorf("loss %q: want more than 0%% and at most 100%%", s)
	case math.Abs(v*100-math.Round(v*100)) > 1e-9:
		return 0, fmt.Errorf("loss %q: at most two decimals", s)
	}
	return v, nil
}

var rateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit)$`)

// ParseRate reads a tc rate in bits per second ("10mbit", "500kbit",
// "1gbit") and returns it canonical (lowercase) and in bit/s. Byte units
// ("mbps" means megabytes to tc) are refused as too easy to misread.
func ParseRate(s string) (string, uint64, error) {
	c := strings.ToLower(strings.TrimSpace(s))
	m := rateRE.FindStringSubmatch(c)
	if m == nil {
		return "", 0, fmt.Errorf("rate %q: want bits per second like 10mbit, 500kbit or 1gbit", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}[m[2]]
	bits := uint64(math.Round(v * mult))
	if bits < 8000 || bits > 100e9 {
		return "", 0, fmt.Errorf("rate %q: want between 8kbit and 100gbit", s)
	}
	return c, bits, nil
}

// normalize checks the impairment against the lab: exactly one target that
// exists, at least one fault; the link is written in the spec's order and
// hosts by full name.
func (i Impairment) normalize(s Spec) (Impairment, error) {
	switch {
	case (i.Link == "") == (i.Host == ""):
		return i, fmt.Errorf("impair: give exactly one of --link %s or --host NAME", s.Link)
	case i.Loss == 0 && i.Rate == "":
		return i, fmt.Errorf("impair %s: give --loss and/or --rate", i.Target())
	case i.Loss < 0 || i.Loss > 100:
		return i, fmt.Errorf("impair %s: loss %v%% out of range", i.Target(), i.Loss)
	}
	if i.Link != "" {
		a, b, ok := strings.Cut(i.Link, ":")
		if !ok || (a+":"+b != s.Link && b+":"+a != s.Link) {
			return i, fmt.Errorf("impair: unknown link %q (this lab has one link: %s)", i.Link, s.Link)
		}
		i.Link = s.Link
	} else {
		h, ok := s.Host(i.Host)
		if !ok {
			return i, fmt.Errorf("impair: %w %q (hosts: %s)", ErrUnknownHost, i.Host, s.hostNames())
		}
		i.Host = h.Name
	}
	if i.Rate != "" {
		r, bits, err := ParseRate(i.Rate)
		if err != nil {
			return i, err
		}
		i.Rate, i.RateBits = r, bits
		if i.Queue <= 0 {
			i.Queue = DefaultQueue
		}
	}
	return i, nil
}

// merge adds imp to the list: a fault on a target already impaired replaces
// that kind of fault (a new loss replaces the old loss, a new rate the old
// rate) and keeps the other.
func merge(list []Impairment, imp Impairment) []Impairment {
	list = slices.Clone(list)
	for k, cur := range list {
		if cur.Target() != imp.Target() {
			continue
		}
		if imp.Loss > 0 {
			cur.Loss = imp.Loss
		}
		if imp.Rate != "" {
			cur.Rate, cur.RateBits, cur.Queue = imp.Rate, imp.RateBits, imp.Queue
		}
		list[k] = cur
		return list
	}
	return append(list, imp)
}

// point is one interface an impairment acts on.
type point struct {
	ns, dev string
}

// points are the two ends of the impaired link. Loss is applied at the
// ingress of each end, so each direction is dropped on arrival as on a lossy
// wire (a drop at the sender's egress would be reported to the sending TCP
// as a local error, not a loss); shaping is applied at the egress of each
// end, where a real bottleneck queues.
func (s Spec) points(i Impairment) []point {
	if i.Link != "" {
		var ps []point
		for _, r := range s.Routers {
			ps = append(ps, point{r.Name, r.LinkDev})
		}
		return ps
	}
	h, _ := s.Host(i.Host)
	return []point{{h.Name, "eth0"}, {h.Router, h.Port}}
}

// lossExpr is the nft expression that matches loss percent of packets.
func lossExpr(loss float64) string {
	if loss == math.Trunc(loss) {
		return fmt.Sprintf("numgen random mod 100 < %d", int(loss))
	}
	return fmt.Sprintf("numgen random mod 10000 < %d", int(math.Round(loss*100)))
}

// nftScripts renders, per namespace, the whole flowlens_lab table for the
// impairments. The leading "add, delete" pair makes the script replace the
// table atomically whether or not it existed.
func nftScripts(s Spec, imps []Impairment) map[string]string {
	rules := map[string][]string{}
	for _, i := range imps {
		if i.Loss <= 0 {
			continue
		}
		for _, p := range s.points(i) {
			chain := "in_" + strings.ReplaceAll(p.dev, "-", "_")
			rules[p.ns] = append(rules[p.ns], fmt.Sprintf(
				"\tchain %s {\n\t\ttype filter hook ingress device %q priority -500; policy accept;\n\t\t%s counter drop comment %q\n\t}\n",
				chain, p.dev, lossExpr(i.Loss), i.Target()+" loss "+formatPercent(i.Loss)))
		}
	}
	out := map[string]string{}
	for ns, rs := range rules {
		out[ns] = fmt.Sprintf("table netdev %s\ndelete table netdev %s\ntable netdev %s {\n%s}\n",
			NftTable, NftTable, NftTable, strings.Join(rs, ""))
	}
	return out
}

// shaper is one HTB bottleneck: an interface, its rate and FIFO size.
type shaper struct {
	point
	rate  string
	limit int // bytes
}

// shapers lists the HTB bottlenecks of the impairments.
func shapers(s Spec, imps []Impairment) []shaper {
	var out []shaper
	for _, i := range imps {
		if i.Rate == "" {
			continue
		}
		for _, p := range s.points(i) {
			out = append(out, shaper{point: p, rate: i.Rate, limit: queueBytes(i.RateBits, i.Queue)})
		}
	}
	return out
}

// queueBytes sizes a FIFO to hold q of traffic at bits per second, and at
// least a few full-size packets.
func queueBytes(bits uint64, q time.Duration) int {
	return max(int(float64(bits)*q.Seconds()/8), 4*1514)
}

// tcCmds builds one HTB bottleneck: a root HTB whose only class (the
// default) has rate = ceil, feeding a byte-limited FIFO, so that excess
// traffic queues (delay) and then drops as at a real bottleneck.
func tcCmds(sh shaper) [][]string {
	tc := []string{"tc", "-n", sh.ns}
	return [][]string{
		append(slices.Clone(tc), "qdisc", "replace", "dev", sh.dev, "root", "handle", "1:", "htb", "default", "1"),
		append(slices.Clone(tc), "class", "replace", "dev", sh.dev, "parent", "1:", "classid", "1:1", "htb", "rate", sh.rate, "ceil", sh.rate),
		append(slices.Clone(tc), "qdisc", "replace", "dev", sh.dev, "parent", "1:1", "handle", "10:", "bfifo", "limit", strconv.Itoa(sh.limit)),
	}
}

// Impair adds an impairment (see Impairment) and applies it at once.
func (l *Lab) Impair(ctx context.Context, imp Impairment) error {
	return l.locked(func() error {
		n, err := imp.normalize(l.state.Spec)
		if err != nil {
			return err
		}
		old := l.state.Impairments
		next := merge(old, n)
		if err := l.applyImpairments(ctx, old, next); err != nil {
			// Put the kernel back as the state says it is.
			return errors.Join(err, l.applyImpairments(ctx, next, old))
		}
		l.state.Impairments = next
		l.log.Info("impaired", "what", n.String())
		return l.save()
	})
}

// Heal removes every impairment when target is empty, else those of one
// target ("zone-a:zone-b" or a host name).
func (l *Lab) Heal(ctx context.Context, target string) error {
	return l.locked(func() error {
		old := l.state.Impairments
		var next []Impairment
		if target != "" {
			t, err := l.healTarget(target)
			if err != nil {
				return err
			}
			next = slices.DeleteFunc(slices.Clone(old), func(i Impairment) bool { return i.Target() == t })
		}
		apply := func() error { return l.applyImpairments(ctx, old, next) }
		if target == "" {
			apply = func() error { return l.sweepImpairments(ctx) }
		}
		if err := apply(); err != nil {
			return err
		}
		l.state.Impairments = next
		l.log.Info("healed", "target", orDash(target))
		return l.save()
	})
}

// healTarget resolves a heal target to an Impairment.Target string.
func (l *Lab) healTarget(t string) (string, error) {
	s := l.state.Spec
	if strings.Contains(t, ":") {
		i, err := Impairment{Link: t, Loss: 1}.normalize(s)
		return i.Target(), err
	}
	i, err := Impairment{Host: t, Loss: 1}.normalize(s)
	return i.Target(), err
}

// Impairments lists the impairments in force.
func (l *Lab) Impairments() []Impairment { return l.snapshot().Impairments }

// applyImpairments moves the namespaces from the old impairments to the new
// ones: it rewrites (or deletes) the nft table of every namespace either
// touches, and sets or removes the HTB shapers.
func (l *Lab) applyImpairments(ctx context.Context, old, next []Impairment) error {
	s := l.state.Spec
	scripts := nftScripts(s, next)
	touched := map[string]bool{}
	for _, i := range append(slices.Clone(old), next...) {
		for _, p := range s.points(i) {
			touched[p.ns] = true
		}
	}
	for ns := range touched {
		if script, ok := scripts[ns]; ok {
			if _, err := l.r.runInput(ctx, strings.NewReader(script), "ip", "netns", "exec", ns, "nft", "-f", "-"); err != nil {
				return err
			}
			continue
		}
		_, err := l.r.run(ctx, "ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", NftTable)
		if err != nil && !stderrContains(err, "No such file or directory") {
			return err
		}
	}
	want, had := shapers(s, next), shapers(s, old)
	for _, sh := range had {
		if slices.Contains(want, sh) {
			continue // unchanged: leave its queue alone
		}
		if err := l.delShaper(ctx, sh.point); err != nil {
			return err
		}
	}
	for _, sh := range want {
		if slices.Contains(had, sh) {
			continue
		}
		// HTB cannot "replace" itself with new parameters: start clean.
		if err := l.delShaper(ctx, sh.point); err != nil {
			return err
		}
		if err := l.r.runAll(ctx, tcCmds(sh)); err != nil {
			return err
		}
	}
	return nil
}

// delShaper removes the root qdisc of an interface, if any.
func (l *Lab) delShaper(ctx context.Context, p point) error {
	_, err := l.r.run(ctx, "tc", "-n", p.ns, "qdisc", "del", "dev", p.dev, "root")
	if err != nil && !stderrContains(err, "handle of zero") && !stderrContains(err, "No such file") {
		return err
	}
	return nil
}

// sweepImpairments removes the lab's nft table from every namespace and the
// root qdisc from every interface an impairment can use, whatever the state
// says, so that `heal` also repairs a lab whose state and kernel disagree
// (say, an impair that failed half way).
func (l *Lab) sweepImpairments(ctx context.Context) error {
	s := l.state.Spec
	var errs []error
	for _, ns := range l.state.Namespaces {
		_, err := l.r.run(ctx, "ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", NftTable)
		if err != nil && !stderrContains(err, "No such file or directory") {
			errs = append(errs, err)
		}
	}
	targets := []Impairment{{Link: s.Link}}
	for _, h := range s.Hosts {
		targets = append(targets, Impairment{Host: h.Name})
	}
	for _, t := range targets {
		for _, p := range s.points(t) {
			errs = append(errs, l.delShaper(ctx, p))
		}
	}
	return errors.Join(errs...)
}

func formatPercent(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64) + "%"
}
