package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gomsm/msm/core"
)

// loadConfig is what a load run does.
type loadConfig struct {
	users     int           // virtual users per system
	writes    float64       // fraction of requests that write, 0..1
	rounds    int           // rounds of every system, interleaved
	duration  time.Duration // of one round of one system
	probe     int           // requests of each kind in the sequential probe; 0: none
	mc        []string      // memcached addresses
	cpuprof   string        // directory for per-round server CPU profiles; "" none
	logf      func(format string, args ...any)
	maxErrors int // a system with more errors than this is reported broken (0: no bound)
}

// user is one virtual user of one system: a browser with its own cookie
// jar, its own session, and the value of its own last write.
type user struct {
	idx    int
	base   string
	client *http.Client
	rng    *rand.Rand
	writes int    // writes so far: the next write stores padV(writes+1)
	want   string // what a read must answer: the last value written
}

// roundStats is what one round of one system measured.
type roundStats struct {
	requests, reads, writes int
	errors, violations      int
	firstErr                error
	lat                     []time.Duration
	elapsed                 time.Duration
	ops                     mcOps
	mallocs                 uint64
	cpu                     time.Duration // server process CPU
	// backupDelay: gomsm's backup queue delay (submission to written) of
	// the round's backups.
	backupDelay core.Histogram
}

func (r *roundStats) merge(x *roundStats) {
	r.requests += x.requests
	r.reads += x.reads
	r.writes += x.writes
	r.errors += x.errors
	r.violations += x.violations
	if r.firstErr == nil {
		r.firstErr = x.firstErr
	}
	r.lat = append(r.lat, x.lat...)
	r.elapsed += x.elapsed
	r.ops = r.ops.add(x.ops)
	r.mallocs += x.mallocs
	r.cpu += x.cpu
	for i, n := range x.backupDelay.Buckets {
		r.backupDelay.Buckets[i] += n
	}
}

// newUsers makes n users of the system at base, with their own jars and a
// transport that keeps one connection per user.
func newUsers(base string, n int, seed uint64) []*user {
	tr := &http.Transport{
		MaxIdleConns:        n,
		MaxIdleConnsPerHost: n,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
	}
	us := make([]*user, n)
	for i := range us {
		jar, _ := cookiejar.New(nil)
		us[i] = &user{
			idx: i, base: base,
			client: &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second},
			rng:    rand.New(rand.NewPCG(seed, uint64(i))),
		}
	}
	return us
}

// get requests path and returns the body of a 200 answer.
func (u *user) get(path string) (string, error) {
	resp, err := u.client.Get(u.base + path)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %q", path, resp.Status, body)
	}
	return string(body), nil
}

// setup is the user's first request: it creates the session.
func (u *user) setup() error {
	body, err := u.get("/setup?u=" + strconv.Itoa(u.idx))
	if err != nil {
		return err
	}
	u.want = padV("0")
	if body != u.want && body != bareBody {
		return fmt.Errorf("setup answered %q", body)
	}
	return nil
}

// do sends one read or write and checks its answer: a violation is an
// answer other than the user's last write (checked only when the system
// has sessions). After a failed write the user does not know what its
// session holds, and checks nothing until its next write succeeds.
func (u *user) do(write, checked bool) (violation bool, err error) {
	if write {
		u.writes++
		n := strconv.Itoa(u.writes)
		body, err := u.get("/write?v=" + n)
		if err != nil {
			u.want = ""
			return false, err
		}
		u.want = padV(n)
		return checked && body != u.want, nil
	}
	body, err := u.get("/read")
	if err != nil {
		return false, err
	}
	return checked && u.want != "" && body != u.want, nil
}

// setupAll runs every user's first request.
func setupAll(us []*user) error {
	var wg sync.WaitGroup
	errs := make([]error, len(us))
	for i, u := range us {
		wg.Go(func() { errs[i] = u.setup() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runRound lets every user send requests until d has passed.
func runRound(us []*user, checked bool, writes float64, d time.Duration) *roundStats {
	per := make([]roundStats, len(us))
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i, u := range us {
		wg.Go(func() {
			st := &per[i]
			st.lat = make([]time.Duration, 0, 1024)
			for {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				write := u.rng.Float64() < writes
				bad, err := u.do(write, checked)
				st.lat = append(st.lat, time.Since(t0))
				st.requests++
				if write {
					st.writes++
				} else {
					st.reads++
				}
				if bad {
					st.violations++
				}
				if err != nil {
					st.errors++
					if st.firstErr == nil {
						st.firstErr = err
					}
					time.Sleep(time.Millisecond) // no busy loop on a broken server
				}
			}
		})
	}
	wg.Wait()
	total := &roundStats{elapsed: time.Since(start)}
	for i := range per {
		p := &per[i]
		p.elapsed = 0
		total.merge(p)
	}
	return total
}

// systemResult is what the load run measured for one system.
type systemResult struct {
	target
	total     roundStats
	roundRPS  []float64
	probe     *probeResult
	setupErr  error
	serverErr error
}

func (r *systemResult) rps() float64 {
	if r.total.elapsed <= 0 {
		return 0
	}
	return float64(r.total.requests) / r.total.elapsed.Seconds()
}

func (r *systemResult) percentile(p float64) time.Duration {
	if len(r.total.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(r.total.lat)-1))
	return r.total.lat[i]
}

// runLoad sets every system's users up, then runs the rounds, interleaved:
// every system once per round, in the same order, so that drift of the
// machine (other load, thermal, GC of earlier rounds) hits them all alike.
func runLoad(side serverSide, cfg loadConfig) ([]*systemResult, error) {
	tgts := side.targets()
	results := make([]*systemResult, len(tgts))
	users := make([][]*user, len(tgts))
	for i, t := range tgts {
		results[i] = &systemResult{target: t}
		users[i] = newUsers(t.URL, cfg.users, uint64(i+1))
		if err := setupAll(users[i]); err != nil {
			results[i].setupErr = err
			cfg.logf("%s: setup failed: %v", t.Name, err)
		}
	}
	for round := 1; round <= cfg.rounds; round++ {
		for i, t := range tgts {
			res := results[i]
			if res.setupErr != nil || res.serverErr != nil {
				continue
			}
			st, err := measureRound(side, cfg, t, users[i], round)
			if err != nil {
				res.serverErr = err
				cfg.logf("%s: %v", t.Name, err)
				continue
			}
			res.roundRPS = append(res.roundRPS, float64(st.requests)/st.elapsed.Seconds())
			res.total.merge(st)
			cfg.logf("round %d/%d %-45s %8.0f req/s  errors %d  violations %d", round, cfg.rounds, t.Name,
				float64(st.requests)/st.elapsed.Seconds(), st.errors, st.violations)
		}
	}
	for i, t := range tgts {
		res := results[i]
		slices.Sort(res.total.lat)
		if res.setupErr != nil || res.serverErr != nil || cfg.probe <= 0 {
			continue
		}
		p, err := runProbe(side, cfg, t, cfg.probe)
		if err != nil {
			res.serverErr = err
			cfg.logf("%s: probe: %v", t.Name, err)
			continue
		}
		res.probe = p
	}
	return results, nil
}

// measureRound runs one round of one system between two snapshots of
// memcached's and the server's counters.
func measureRound(side serverSide, cfg loadConfig, t target, us []*user, round int) (*roundStats, error) {
	snap0, err := side.snapshot(t.Slug)
	if err != nil {
		return nil, err
	}
	ops0, err := readOps(cfg.mc)
	if err != nil {
		return nil, err
	}
	if cfg.cpuprof != "" {
		if err := side.startProfile(fmt.Sprintf("%s/%s-r%d.pprof", cfg.cpuprof, t.Slug, round)); err != nil {
			return nil, err
		}
	}
	st := runRound(us, t.Sessions, cfg.writes, cfg.duration)
	if cfg.cpuprof != "" {
		if err := side.stopProfile(); err != nil {
			return nil, err
		}
	}
	snap1, err := side.snapshot(t.Slug)
	if err != nil {
		return nil, err
	}
	ops1, err := readOps(cfg.mc)
	if err != nil {
		return nil, err
	}
	st.ops = ops1.sub(ops0)
	st.mallocs = snap1.Mallocs - snap0.Mallocs
	st.cpu = snap1.CPU - snap0.CPU
	for i, n := range snap1.BackupQueueDelay.Buckets {
		st.backupDelay.Buckets[i] = n - min(n, snap0.BackupQueueDelay.Buckets[i])
	}
	return st, nil
}

// probeResult is what one user, alone, costs per read and per write.
type probeResult struct {
	n                       int
	readOps, writeOps       mcOps
	readAllocs, writeAllocs uint64
	errors, violations      int
}

// runProbe has a new user set up its session, then send n reads and n
// writes one at a time, and counts memcached operations and server
// allocations per request of each kind.
// It is longer than 50 lines: the set-up, the two loops and the counting
// share the one user's state, and split up they would pass it all around.
func runProbe(side serverSide, cfg loadConfig, t target, n int) (*probeResult, error) {
	u := newUsers(t.URL, 1, 99)[0]
	u.idx = 1_000_000
	if err := u.setup(); err != nil {
		return nil, err
	}
	p := &probeResult{n: n}
	// What two snapshots in a row allocate (the control request itself) is
	// taken off every measurement.
	c0, err := side.snapshot(t.Slug)
	if err != nil {
		return nil, err
	}
	c1, err := side.snapshot(t.Slug)
	if err != nil {
		return nil, err
	}
	overhead := c1.Mallocs - c0.Mallocs
	// A few unmeasured reads and writes first: "auto" locking learns that
	// /read is read-only, pools warm up.
	for i := range 10 {
		u.do(i%2 == 0, false)
	}
	measure := func(write bool) (mcOps, uint64, error) {
		snap0, err := side.snapshot(t.Slug)
		if err != nil {
			return mcOps{}, 0, err
		}
		ops0, err := readOps(cfg.mc)
		if err != nil {
			return mcOps{}, 0, err
		}
		for range n {
			bad, err := u.do(write, t.Sessions)
			if err != nil {
				p.errors++
			} else if bad {
				p.violations++
			}
		}
		snap1, err := side.snapshot(t.Slug)
		if err != nil {
			return mcOps{}, 0, err
		}
		ops1, err := readOps(cfg.mc)
		if err != nil {
			return mcOps{}, 0, err
		}
		allocs := snap1.Mallocs - snap0.Mallocs
		allocs -= min(allocs, overhead)
		return ops1.sub(ops0), allocs, nil
	}
	if p.readOps, p.readAllocs, err = measure(false); err != nil {
		return nil, err
	}
	if p.writeOps, p.writeAllocs, err = measure(true); err != nil {
		return nil, err
	}
	return p, nil
}
