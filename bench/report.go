package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// runInfo describes a load run for the report's header.
type runInfo struct {
	command   string
	cfg       loadConfig
	inprocess bool
	memcached string // version
	started   time.Time
}

// report renders the results as markdown.
// Longer than 50 lines: the report's sections in the order they print.
func report(info runInfo, results []*systemResult) string {
	var b strings.Builder
	cfg := info.cfg
	fmt.Fprintf(&b, "## Load comparison, %s\n\n", info.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- command: `%s`\n", info.command)
	fmt.Fprintf(&b, "- machine: %s, %d cores, GOMAXPROCS %d, %s, memcached %s on loopback\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), info.memcached)
	where := "in a server process of their own (`-serve`); the virtual users run in the load program"
	if info.inprocess {
		where = "in the load program's process, with the virtual users (`-inprocess`): allocations include the clients'"
	}
	fmt.Fprintf(&b, "- systems under test: real HTTP servers on 127.0.0.1, %s\n", where)
	fmt.Fprintf(&b, "- %d virtual users per system, each with its own cookie jar and session (10 attributes of 100 bytes, set up by its first request); %.0f%% reads / %.0f%% writes\n",
		cfg.users, 100*(1-cfg.writes), 100*cfg.writes)
	fmt.Fprintf(&b, "- %d rounds of %v per system, interleaved (every system once per round, same order)\n\n", cfg.rounds, cfg.duration)

	bare := bySlug(results)["bare"]
	b.WriteString("| system | req/s | x bare | rounds min-max | p50 | p99 | server CPU/req | x bare by server CPU | mc ops/req | mc CPU/req | server allocs/req | requests | violations | errors |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		if r.setupErr != nil || (r.serverErr != nil && r.total.requests == 0) {
			err := r.setupErr
			if err == nil {
				err = r.serverErr
			}
			fmt.Fprintf(&b, "| %s | failed: %s |%s\n", r.Name, oneLine(err), strings.Repeat("  |", 12))
			continue
		}
		t := &r.total
		ratio, cpuRatio := "-", "-"
		if x, ok := roundRatio(r, bare); ok {
			ratio = fmt.Sprintf("%.2f", x)
		}
		if x, ok := cpuRatioTo(r, bare); ok {
			cpuRatio = fmt.Sprintf("%.2f", x)
		}
		viol := "n/a (no session)"
		if r.Sessions {
			viol = fmt.Sprint(t.violations)
		}
		errs := fmt.Sprint(t.errors)
		if t.firstErr != nil {
			errs += " (" + oneLine(t.firstErr) + ")"
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n",
			r.Name, r.rps(), ratio, spread(r.roundRPS), fmtDur(r.percentile(0.50)), fmtDur(r.percentile(0.99)),
			cpuPerReq(t.cpu, t.requests), cpuRatio, perReq(t.ops.Total(), t.requests), cpuPerReq(t.ops.CPU, t.requests),
			perReq(t.mallocs, t.requests), t.requests, viol, errs)
	}

	if slices.ContainsFunc(results, func(r *systemResult) bool { return r.probe != nil }) {
		fmt.Fprintf(&b, "\nOne user alone, one request at a time (%d reads, then %d writes, after the rounds):\n\n", cfg.probe, cfg.probe)
		b.WriteString("| system | mc ops/read | (get+set+touch+delete) | mc ops/write | (get+set+touch+delete) | server allocs/read | server allocs/write | violations |\n")
		b.WriteString("|---|---:|---|---:|---|---:|---:|---:|\n")
		for _, r := range results {
			p := r.probe
			if p == nil {
				continue
			}
			viol := "n/a"
			if r.Sessions {
				viol = fmt.Sprint(p.violations)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name,
				perReq(p.readOps.Total(), p.n), breakdown(p.readOps, p.n),
				perReq(p.writeOps.Total(), p.n), breakdown(p.writeOps, p.n),
				perReq(p.readAllocs, p.n), perReq(p.writeAllocs, p.n), viol)
		}
	}
	var window strings.Builder
	for _, r := range results {
		if d := r.total.backupDelay; d.Quantile(1) > 0 {
			var n uint64
			for _, c := range d.Buckets {
				n += c
			}
			fmt.Fprintf(&window, "| %s | %d | %s | %s |\n", r.Name, n,
				fmtDur(time.Duration(d.Quantile(0.5))), fmtDur(time.Duration(d.Quantile(0.99))))
		}
	}
	if window.Len() > 0 {
		b.WriteString("\nBackup queue delay (`Stats().BackupQueueDelay`: from a backup's submission at the end of its request to its memcached write done; with asynchronous backup, the window in which a change lives only in the instance's memory), over the rounds:\n\n")
		b.WriteString("| system | backups | p50 | p99 |\n|---|---:|---:|---:|\n" + window.String())
	}
	b.WriteString("\n" + targets(cfg, results))
	return b.String()
}

// targets checks the targets against what this run measured.
// Longer than 50 lines: one check per target of the issue, flat.
func targets(cfg loadConfig, results []*systemResult) string {
	by := bySlug(results)
	var b strings.Builder
	b.WriteString("Targets (issues 8 and 18); throughput as x = median over rounds of the per-round ratio, and as the server-CPU ratio:\n\n")
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	mix := fmt.Sprintf("at %.0f%% writes", 100*cfg.writes)
	if cfg.writes == 0 {
		mix = "read-only"
	}
	// throughput checks a's throughput against base's: end to end against
	// want, by server CPU against wantCPU (0: not a target, shown).
	throughput := func(what, a, base string, want, wantCPU float64) {
		ra, rb := by[a], by[base]
		x, ok := roundRatio(ra, rb)
		if !ok {
			return
		}
		line := fmt.Sprintf("- %s >= %gx (%s): %.2fx, %s", what, want, mix, x, mark(x >= want))
		if c, ok := cpuRatioTo(ra, rb); ok && wantCPU > 0 {
			line += fmt.Sprintf("; by server CPU >= %gx: %.2fx, %s", wantCPU, c, mark(c >= wantCPU))
		} else if ok {
			line += fmt.Sprintf("; by server CPU %.2fx", c)
		}
		b.WriteString(line + "\n")
	}
	throughput("sticky vs bare", "sticky", "bare", 0.90, 0.85)
	throughput("sticky vs gin-contrib/sessions memcached", "sticky", "contrib-mc", 3, 3)
	throughput("non-sticky locking none vs gin-contrib/sessions memcached", "ns-none", "contrib-mc", 2.5, 0)
	throughput("non-sticky locking all vs gin-contrib/sessions memcached", "ns-all", "contrib-mc", 1.3, 0)
	// The floor is no target of its own: it shows how far the memcached
	// targets above are from what any memcached store reaches here.
	if x, ok := roundRatio(by["mc-floor"], by["contrib-mc"]); ok {
		line := fmt.Sprintf("- for reference, the floor (one get per read, one set per write, nothing else) vs gin-contrib/sessions memcached (%s): %.2fx", mix, x)
		if c, ok := cpuRatioTo(by["mc-floor"], by["contrib-mc"]); ok {
			line += fmt.Sprintf("; by server CPU %.2fx", c)
		}
		b.WriteString(line + "\n")
	}
	probe := func(slug string) *probeResult {
		if r := by[slug]; r != nil {
			return r.probe
		}
		return nil
	}
	if p := probe("sticky"); p != nil {
		rd, wr := float64(p.readOps.Total())/float64(p.n), float64(p.writeOps.Total())/float64(p.n)
		fmt.Fprintf(&b, "- memcached ops, sticky read-only 0: %.2f, %s\n", rd, mark(rd == 0))
		// Below 1 when a backup was superseded by the next one before a
		// worker sent it: coalesced, which is the point.
		fmt.Fprintf(&b, "- memcached ops, sticky write 1 (at most): %.2f, %s\n", wr, mark(wr > 0 && wr <= 1))
	}
	if p := probe("ns-none"); p != nil {
		rd := float64(p.readOps.Total()) / float64(p.n)
		fmt.Fprintf(&b, "- memcached round trips, non-sticky read-only 1: %.2f (locking none), %s\n", rd, mark(rd == 1))
	}
	bad := 0
	for _, r := range by {
		if r.Sessions {
			bad += r.total.violations
			if r.probe != nil {
				bad += r.probe.violations
			}
		}
	}
	fmt.Fprintf(&b, "- every read saw the user's own last write: %d violations, %s\n", bad, mark(bad == 0))
	return b.String()
}

func bySlug(results []*systemResult) map[string]*systemResult {
	by := map[string]*systemResult{}
	for _, r := range results {
		if r.setupErr == nil && r.total.requests > 0 {
			by[r.Slug] = r
		}
	}
	return by
}

// roundRatio is the median over the rounds of r's requests/s divided by
// base's in the same round: a round's systems ran within seconds of each
// other, so the machine's drift between rounds cancels.
func roundRatio(r, base *systemResult) (float64, bool) {
	if r == nil || base == nil {
		return 0, false
	}
	n := min(len(r.roundRPS), len(base.roundRPS))
	var xs []float64
	for i := range n {
		if base.roundRPS[i] > 0 {
			xs = append(xs, r.roundRPS[i]/base.roundRPS[i])
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2], true
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2, true
}

// cpuRatioTo is base's server CPU per request divided by r's: the
// throughput ratio of the two servers when the server's CPU is what limits.
func cpuRatioTo(r, base *systemResult) (float64, bool) {
	if r == nil || base == nil || r.total.cpu <= 0 || r.total.requests == 0 || base.total.requests == 0 {
		return 0, false
	}
	rc := float64(r.total.cpu) / float64(r.total.requests)
	bc := float64(base.total.cpu) / float64(base.total.requests)
	return bc / rc, true
}

func cpuPerReq(d time.Duration, reqs int) string {
	if reqs == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(reqs)/float64(time.Microsecond))
}

func perReq(n uint64, reqs int) string {
	if reqs == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(n)/float64(reqs))
}

func breakdown(o mcOps, n int) string {
	if n == 0 || o.Total() == 0 {
		return "-"
	}
	f := func(x uint64) string { return fmt.Sprintf("%.2g", float64(x)/float64(n)) }
	return f(o.Get) + "+" + f(o.Set) + "+" + f(o.Touch) + "+" + f(o.Delete)
}

func spread(rps []float64) string {
	if len(rps) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f-%.0f", slices.Min(rps), slices.Max(rps))
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}

func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// cpuModel returns the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
