package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gomsm/msm/core/msmtest"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomsm/msm/core"
)

// The memory check creates sessions of 10 attributes of 100 bytes (each
// value its own string, as real sessions are) through core's middleware,
// one request per session, and reports the process's RSS and Go heap at
// checkpoints. Each scenario runs in a fresh process (this program again,
// with -mem-run), so that one scenario's heap and peak RSS never show in
// another's figures.

type memConfig struct {
	scenarios  []string // names of memScenarios to run
	sessions   int
	bound      int
	backup     bool
	profileDir string
	logf       func(string, ...any)
}

// memScenario is one configuration of the memory check.
type memScenario struct {
	name  string // -mem-run value
	title string
	bound bool // MaxLocalSessions = memConfig.bound
	mc    bool // sticky backup to memcached (async)
	// packed: idle sessions are packed (CompactAfter 1s); each checkpoint
	// waits until the sweeper has packed what was created.
	packed bool
	// flood: each request sets one small attribute, as a client flooding
	// an endpoint that writes its session would; the Manager keeps its
	// default MaxLocalSessions unless unbounded is set.
	flood, unbounded bool
}

var memScenarios = []memScenario{
	{name: "local", title: "local only (no memcached), unbounded"},
	{name: "bounded", title: "local only, MaxLocalSessions = %d", bound: true},
	{name: "backup", title: "sticky with memcached backup (async), unbounded", mc: true},
	{name: "packed", title: "local only, unbounded, idle sessions packed (CompactAfter 1s)", packed: true},
	{name: "packed-backup", title: "sticky with memcached backup (async), idle sessions packed (CompactAfter 1s)", mc: true, packed: true},
	{name: "flood", title: "flood of one-attribute sessions, default MaxLocalSessions, memcached backup (async)", mc: true, flood: true},
	{name: "flood-unbounded", title: "flood of one-attribute sessions, MaxLocalSessions -1 (no bound), memcached backup (async)", mc: true, flood: true, unbounded: true},
}

// memSample is one checkpoint of a scenario.
type memSample struct {
	Created   int     `json:"created"`
	Local     int     `json:"local"` // sessions in local memory
	HeapInuse uint64  `json:"heap_inuse"`
	HeapAlloc uint64  `json:"heap_alloc"`
	RSS       uint64  `json:"rss"`
	HWM       uint64  `json:"hwm"` // peak RSS so far
	Seconds   float64 `json:"seconds"`
	Baseline  bool    `json:"baseline,omitempty"`
	Backups   uint64  `json:"backups,omitempty"`
}

// memCheck runs every scenario in its own process and renders the report.
// One sequence of steps (spawn, read samples, render), longer than 50
// lines but read best top to bottom.
func memCheck(cfg memConfig) (string, error) {
	var mc *msmtest.Process
	needsMC := slices.ContainsFunc(memScenarios, func(sc memScenario) bool {
		return sc.mc && slices.Contains(cfg.scenarios, sc.name)
	})
	if cfg.backup && needsMC {
		// Item memory for every session with room to spare (1M x ~1.2 KB).
		var err error
		if mc, err = msmtest.Launch(msmtest.Options{MemoryMB: max(256, cfg.sessions*3/1024)}); err != nil {
			return "", err
		}
		defer mc.Stop()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Memory check, %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s, %d cores, %s\n", cpuModel(), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&b, "- sessions of 10 attributes of 100 bytes (distinct strings), created through core's Middleware, one request each (no HTTP server)\n")
	fmt.Fprintf(&b, "- figures after runtime.GC and debug.FreeOSMemory at each checkpoint: Go heap live is HeapAlloc (the bytes of live objects), in use is HeapInuse (the spans holding them), RSS is VmRSS; peak RSS is VmHWM, the most the process held at any time (GOGC=100 lets the heap grow to twice the live heap between collections)\n")
	fmt.Fprintf(&b, "- each scenario in a fresh process; heap/session = (Go heap in use - the baseline before any session) / sessions in local memory\n\n")
	b.WriteString("| scenario | sessions created | sessions in memory | Go heap live | Go heap in use | RSS | peak RSS | heap in use/session | elapsed |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var checks []memEnd
	for _, sc := range memScenarios {
		if (sc.mc && !cfg.backup) || !slices.Contains(cfg.scenarios, sc.name) {
			continue
		}
		title := sc.title
		if sc.bound {
			title = fmt.Sprintf(title, cfg.bound)
		}
		cfg.logf("memory check: %s", title)
		samples, err := memChild(sc, cfg, mc)
		if err != nil {
			return "", fmt.Errorf("memory check %s: %w", sc.name, err)
		}
		var base memSample
		if sc.name == "local" || sc.name == "backup" {
			checks = append(checks, memEnd{title, samples[len(samples)-1]})
		}
		for _, s := range samples {
			if s.Baseline {
				base = s
				fmt.Fprintf(&b, "| %s | 0 (baseline) | 0 | %s | %s | %s | %s |  |  |\n", title, mib(s.HeapAlloc), mib(s.HeapInuse), mib(s.RSS), mib(s.HWM))
				continue
			}
			per := "-"
			if s.Local > 0 {
				per = fmt.Sprintf("%.0f B", float64(s.HeapInuse-min(s.HeapInuse, base.HeapInuse))/float64(s.Local))
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %s | %.1fs |\n", title, s.Created, s.Local,
				mib(s.HeapAlloc), mib(s.HeapInuse), mib(s.RSS), mib(s.HWM), per, s.Seconds)
		}
	}
	b.WriteString(memTargets(checks))
	return b.String(), nil
}

// memEnd is the last sample of an unbounded scenario, for memTargets.
type memEnd struct {
	title string
	last  memSample
}

// memTarget is issue 18's bound for 1M idle sessions of about 1 KB.
const memTarget = 1536 << 20

// memTargets checks the unbounded scenarios that reached 1M sessions
// against memTarget, and relates their heap to the raw payload.
func memTargets(checks []memEnd) string {
	payload := attrCount * attrBytes
	for _, n := range append(slices.Clone(attrNames), "v") {
		payload += len(n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nRaw payload: %d B per session (10 values of %d B and their names).\n", payload, attrBytes)
	for _, c := range checks {
		s := c.last
		if s.Local < 1_000_000 {
			continue
		}
		ok := s.RSS <= memTarget && s.HWM <= memTarget
		mark := "met"
		if !ok {
			mark = "**missed**"
		}
		fmt.Fprintf(&b, "- target (issue 18), %s: 1M sessions in <= 1.5 GiB RSS and peak RSS: RSS %s, peak %s, %s; heap live %.0f B per session, %.2fx the payload\n",
			c.title, mib(s.RSS), mib(s.HWM), mark, float64(s.HeapAlloc)/float64(s.Local), float64(s.HeapAlloc)/float64(s.Local)/float64(payload))
	}
	return b.String()
}

// memChild runs one scenario in a new process and collects its samples.
func memChild(sc memScenario, cfg memConfig, mc *msmtest.Process) ([]memSample, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-mem-run", sc.name, "-mem-sessions", strconv.Itoa(cfg.sessions), "-mem-bound", strconv.Itoa(cfg.bound)}
	if sc.mc {
		args = append(args, "-mc", mc.Addr())
	}
	if cfg.profileDir != "" {
		args = append(args, "-memprofile", cfg.profileDir)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var samples []memSample
	sc2 := bufio.NewScanner(stdout)
	for sc2.Scan() {
		var s memSample
		if err := json.Unmarshal(sc2.Bytes(), &s); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("memory check process said %q: %w", sc2.Text(), err)
		}
		samples = append(samples, s)
		cfg.logf("  %d created, %d in memory: heap live %s, in use %s, RSS %s, peak %s, %.1fs", s.Created, s.Local, mib(s.HeapAlloc), mib(s.HeapInuse), mib(s.RSS), mib(s.HWM), s.Seconds)
	}
	if err := cmd.Wait(); err != nil {
		return nil, err
	}
	return samples, nil
}

// memRun is the process of one scenario: it prints one JSON sample per
// checkpoint.
// Longer than 50 lines: one scenario's steps in order, with a checkpoint
// after each; split, the checkpoints would lose their order.
func memRun(name string, n, bound int, mc, profileDir string) error {
	var sc *memScenario
	for i := range memScenarios {
		if memScenarios[i].name == name {
			sc = &memScenarios[i]
		}
	}
	if sc == nil {
		return fmt.Errorf("unknown memory scenario %q", name)
	}
	cfg := core.Config{Logger: slog.New(slog.DiscardHandler), CompactAfter: -1}
	if !sc.flood || sc.unbounded {
		cfg.MaxLocalSessions = -1 // the unbounded figures (the default bounds)
	}
	if sc.packed {
		cfg.CompactAfter = time.Second
	}
	if sc.bound {
		cfg.MaxLocalSessions = bound
	}
	if sc.mc {
		if mc == "" {
			return errors.New("scenario backup needs -mc")
		}
		cfg.Nodes = "n1:" + mc
	}
	enc := json.NewEncoder(os.Stdout)
	start := time.Now()
	sample := func(created int, m *core.Manager) error {
		s := memSample{Created: created, Baseline: m == nil}
		if m != nil {
			waitBackups(m)
			if sc.packed {
				waitPacked(m, created)
			}
			st := m.Stats()
			s.Local, s.Backups = st.LocalSessions, st.BackupsOK
		}
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.HeapInuse, s.HeapAlloc, s.RSS, s.HWM = ms.HeapInuse, ms.HeapAlloc, readRSS(), readHWM()
		s.Seconds = time.Since(start).Seconds()
		return enc.Encode(s)
	}
	if err := sample(0, nil); err != nil {
		return err
	}
	m, err := core.New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	created := 0
	for _, cp := range checkpoints(n) {
		createSessions(m, created, cp, sc.flood)
		created = cp
		if err := sample(created, m); err != nil {
			return err
		}
	}
	if profileDir != "" {
		f, err := os.Create(profileDir + "/" + name + ".heap")
		if err != nil {
			return err
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
	}
	return nil
}

// createSessions creates the sessions numbered from to to-1 through m's
// middleware: one request each, whose handler sets 10 attributes of 100
// bytes, each value a string of its own (flood: one short attribute).
func createSessions(m *core.Manager, from, to int, flood bool) {
	var u string
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		if flood {
			s.Set("visit", u)
			return
		}
		for i, name := range attrNames {
			s.Set(name, attrValue(u, i))
		}
		s.Set("v", padV(u))
	}))
	req, _ := http.NewRequest("GET", "http://bench/", nil)
	w := &discardWriter{h: http.Header{}}
	for i := from; i < to; i++ {
		u = strconv.Itoa(i)
		h.ServeHTTP(w, req)
		clear(w.h)
	}
}

// checkpoints returns where the memory check samples: 100k, 250k, 500k,
// 1M and n, those up to n.
func checkpoints(n int) []int {
	var cps []int
	for _, c := range []int{100_000, 250_000, 500_000, 1_000_000} {
		if c < n {
			cps = append(cps, c)
		}
	}
	return append(cps, n)
}

// waitBackups waits until the manager's backup queue is empty.
func waitBackups(m *core.Manager) {
	for deadline := time.Now().Add(time.Minute); m.Stats().BackupQueue > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func mib(b uint64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// waitPacked waits (at most a minute) until the sweeper has packed the
// sessions created so far, or has packed none for three seconds: sessions
// of strings are kept packed from their first request on, and the sweeper
// finds nothing left to pack.
func waitPacked(m *core.Manager, created int) {
	deadline := time.Now().Add(time.Minute)
	last, still := m.Stats().SessionsPacked, time.Now()
	for last < uint64(created) && time.Now().Before(deadline) && time.Since(still) < 3*time.Second {
		time.Sleep(100 * time.Millisecond)
		if n := m.Stats().SessionsPacked; n != last {
			last, still = n, time.Now()
		}
	}
}
