package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// The tests check that the harness measures what it claims, on every
// system, in a couple of seconds: no errors, every read sees the user's
// last write, and the memcached operations per request are the ones the
// design promises. They assert correctness, never speed.

// needsMemcached reports whether system slug talks to memcached.
func needsMemcached(slug string) bool {
	switch slug {
	case "sticky", "ns-none", "ns-auto", "ns-all", "mc-floor", "contrib-mc":
		return true
	}
	return false
}

func TestLoadAllSystems(t *testing.T) {
	mc := msmtest.Start(t)
	l, err := listen(allSlugs, []string{mc.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	cfg := loadConfig{
		users: 4, writes: 0.3, rounds: 1, duration: 150 * time.Millisecond, probe: 20,
		mc: []string{mc.Addr()}, logf: t.Logf,
	}
	results, err := runLoad(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*systemResult{}
	for _, r := range results {
		by[r.Slug] = r
		if r.setupErr != nil || r.serverErr != nil {
			t.Errorf("%s: setup %v, server %v", r.Name, r.setupErr, r.serverErr)
			continue
		}
		if r.total.requests == 0 || r.total.errors > 0 || r.total.violations > 0 {
			t.Errorf("%s: %d requests, %d errors (first: %v), %d violations", r.Name, r.total.requests, r.total.errors, r.total.firstErr, r.total.violations)
		}
		if r.probe == nil || r.probe.errors > 0 || r.probe.violations > 0 {
			t.Errorf("%s: probe %+v", r.Name, r.probe)
		}
		if !needsMemcached(r.Slug) && r.total.ops.Total() > 0 {
			// Nothing else runs against this memcached.
			t.Errorf("%s: %d memcached operations, want none", r.Name, r.total.ops.Total())
		}
	}
	// Operations per request, one user alone (see docs/performance.md).
	perReq := func(slug string, write bool) float64 {
		p := by[slug].probe
		if p == nil {
			t.Fatalf("%s: no probe", slug)
		}
		o := p.readOps
		if write {
			o = p.writeOps
		}
		return float64(o.Total()) / float64(p.n)
	}
	for _, c := range []struct {
		slug     string
		write    bool
		min, max float64
	}{
		{"sticky", false, 0, 0},     // served from local memory
		{"sticky", true, 0.01, 2},   // a versioned write (gets + cas), or none when a newer backup supersedes a queued one
		{"ns-none", false, 1, 1},    // gets (gat once per MaxInactive/4)
		{"ns-none", true, 2, 3},     // gets, cas with its CAS id (gat + gets + cas after a gat)
		{"ns-auto", false, 1, 1},    // gat: /read learned read-only
		{"ns-auto", true, 4, 6},     // add lock, gets, cas write, delete unlock (more after a gat or a long hold)
		{"ns-all", false, 3, 4},     // add lock, gat, delete unlock (gets + cas after a long hold)
		{"mc-floor", false, 1, 1},   // get
		{"mc-floor", true, 1, 1},    // set
		{"contrib-mc", false, 1, 1}, // get
		{"contrib-mc", true, 2, 2},  // get, set
		{"scs-mem", true, 0, 0},
	} {
		if got := perReq(c.slug, c.write); got < c.min || got > c.max {
			t.Errorf("%s, write %v: %.2f memcached ops per request, want %g-%g", c.slug, c.write, got, c.min, c.max)
		}
	}
	// Sticky's asynchronous backups record their queue delay, round by round.
	if d := by["sticky"].total.backupDelay; d.Quantile(1) <= 0 {
		t.Errorf("sticky: no backup queue delay recorded: %+v", d.Buckets)
	}
	md := report(runInfo{command: "test", cfg: cfg, memcached: "test", started: time.Now()}, results)
	for _, want := range []string{"| gin + gomsm sticky |", "mc ops/write", "Targets", "0 violations, met", "Backup queue delay"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestReadOps: readOps counts what memcached counts, summed over nodes.
func TestReadOps(t *testing.T) {
	mcs := msmtest.StartN(t, 2, msmtest.Options{MemoryMB: 16})
	addrs := []string{mcs[0].Addr(), mcs[1].Addr()}
	before, err := readOps(addrs)
	if err != nil {
		t.Fatal(err)
	}
	if before.Total() != 0 {
		t.Errorf("fresh memcached counts %d operations", before.Total())
	}
	for _, addr := range addrs {
		c, err := net.DialTimeout("tcp", addr, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "set k 0 0 1\r\nx\r\nget k\r\ntouch k 10\r\ndelete k\r\n")
		r := bufio.NewReader(c)
		for _, want := range []string{"STORED", "VALUE k 0 1", "x", "END", "TOUCHED", "DELETED"} {
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != want {
				t.Fatalf("%s: got %q, %v; want %q", addr, line, err, want)
			}
		}
		c.Close()
	}
	after, err := readOps(addrs)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.sub(before); d.Get != 2 || d.Set != 2 || d.Touch != 2 || d.Delete != 2 {
		t.Errorf("one get, set, touch and delete on each of 2 nodes counted %+v, want 2 of each", d)
	}
	if memcachedVersion(addrs[0]) == "" {
		t.Error("no version")
	}
}

func TestCreateSessionsBounded(t *testing.T) {
	m, err := core.New(core.Config{MaxLocalSessions: 500, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	createSessions(m, 0, 2000, false)
	if n := m.Stats().LocalSessions; n != 500 {
		t.Errorf("%d local sessions after 2000 created with MaxLocalSessions 500", n)
	}
	if got := checkpoints(300_000); !slices.Equal(got, []int{100_000, 250_000, 300_000}) {
		t.Errorf("checkpoints(300000) = %v", got)
	}
}

func TestSessionSize(t *testing.T) {
	total := 0
	for i, name := range attrNames {
		total += len(name) + len(attrValue("12345", i))
	}
	total += len("v") + len(padV("1"))
	if len(attrNames)+1 != attrCount || total < 1000 || total > 1100 {
		t.Errorf("%d attributes, %d bytes: want 10 attributes of about 1 KB", len(attrNames)+1, total)
	}
}

// The benchmarks serve one request at a time straight through each
// system's handler (no network, no client): what a read and a write cost
// the server. Compare with gomsm's own in core/bench_test.go.
func BenchmarkServe(b *testing.B) {
	mc := []string{msmtest.Start(b).Addr()}
	for _, slug := range allSlugs {
		b.Run(slug, func(b *testing.B) {
			sys, err := buildSystem(slug, mc)
			if err != nil {
				b.Fatal(err)
			}
			defer sys.close()
			rec := httptest.NewRecorder()
			sys.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/setup?u=1", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("setup: %d %s", rec.Code, rec.Body)
			}
			cookies := rec.Result().Cookies()
			b.Run("read", func(b *testing.B) { benchServe(b, sys, cookies, false) })
			b.Run("write", func(b *testing.B) { benchServe(b, sys, cookies, true) })
		})
	}
}

func benchServe(b *testing.B, sys *system, cookies []*http.Cookie, write bool) {
	reqs := make([]*http.Request, 16)
	for i := range reqs {
		path := "/read"
		if write {
			path = "/write?v=" + strconv.Itoa(i)
		}
		reqs[i] = httptest.NewRequest("GET", path, nil)
		for _, c := range cookies {
			reqs[i].AddCookie(c)
		}
	}
	w := &bodyWriter{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.reset()
		// A shallow copy per request, as a server makes a new one: gorilla
		// sessions caches the loaded session in the request it is given.
		r := reqs[i%len(reqs)]
		sys.handler.ServeHTTP(w, r.WithContext(r.Context()))
		if w.code != http.StatusOK || w.n != attrBytes {
			b.Fatalf("%d, %d bytes", w.code, w.n)
		}
		i++
	}
	b.StopTimer()
	sys.quiesce()
}

// bodyWriter is a ResponseWriter that keeps the status and the body's size.
type bodyWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *bodyWriter) reset()              { clear(w.h); w.code, w.n = http.StatusOK, 0 }
func (w *bodyWriter) Header() http.Header { return w.h }
func (w *bodyWriter) WriteHeader(c int)   { w.code = c }
func (w *bodyWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

func TestMemTargets(t *testing.T) {
	got := memTargets([]memEnd{
		{"small", memSample{Local: 1_000_000, RSS: 1 << 30, HWM: 1 << 30, HeapAlloc: 1_500_000_000}},
		{"large", memSample{Local: 1_000_000, RSS: 1 << 30, HWM: 2 << 30}},
		{"few", memSample{Local: 1000, RSS: 4 << 30}},
	})
	for _, want := range []string{"Raw payload: 1019 B", "small: 1M sessions in <= 1.5 GiB RSS and peak RSS: RSS 1.00 GiB, peak 1.00 GiB, met; heap live 1500 B per session, 1.47x",
		"large: 1M sessions in <= 1.5 GiB RSS and peak RSS: RSS 1.00 GiB, peak 2.00 GiB, **missed**"} {
		if !strings.Contains(got, want) {
			t.Errorf("memTargets does not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "few") {
		t.Errorf("a scenario under 1M sessions was checked:\n%s", got)
	}
}
