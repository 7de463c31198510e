package core_test

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// TestFailoverUnderLoad kills (and, separately, hangs) a node while 20
// clients keep 100 sessions busy with synchronous backups. It asserts that
// no request fails, no update is lost, the healthy node is never marked
// down, and that only the requests in flight at the failure send anything
// to the dead node: at most one failed operation per client on n1, a count
// a slow machine cannot raise (it counts operations, not milliseconds).
// It logs what docs/failover.md quotes: request latency before the event,
// how many requests took over half an OperationTimeout, and how long until
// latency was back to normal; those are figures, not assertions. Run it
// with -v to see them:
//
//	go test -run TestFailoverUnderLoad -v ./core/
func TestFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"kill", "pause"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			failoverUnderLoad(t, how)
		})
	}
}

type sample struct {
	start time.Time
	took  time.Duration
}

func failoverUnderLoad(t *testing.T, how string) {
	// A paused node costs one OperationTimeout to the requests in flight:
	// hungTimeout keeps that short while staying far above what a healthy
	// node needs on a busy machine.
	const opTimeout = hungTimeout
	mcs := msmtest.StartN(t, 2)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, BackupTimeout: 4 * opTimeout,
		OperationTimeout: opTimeout, NodeRetryInterval: time.Hour}
	a := start(t, cfg, shop())

	const clients, perClient = 20, 5
	users := make([][]*browser, clients)
	for c := range users {
		for range perClient {
			br := newBrowser(t)
			br.get(a, "/count")
			users[c] = append(users[c], br)
		}
	}
	var (
		mu      sync.Mutex
		samples []sample
		stop    atomic.Bool
		wg      sync.WaitGroup
		counts  = make([][]int, clients)
		// done[c] counts the requests client c completed.
		done = make([]atomic.Int64, clients)
	)
	// Stop the clients before the servers close, also when the test fails
	// early (cleanups run last registered first).
	t.Cleanup(func() {
		stop.Store(true)
		wg.Wait()
	})
	for c := range clients {
		counts[c] = make([]int, perClient)
		for i := range counts[c] {
			counts[c][i] = 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				u := i % perClient
				t0 := time.Now()
				got, resp := users[c][u].get(a, "/count")
				took := time.Since(t0)
				counts[c][u]++
				if resp.StatusCode != 200 || got != strconv.Itoa(counts[c][u]) {
					t.Errorf("client %d user %d: status %d count %s, want %d", c, u, resp.StatusCode, got, counts[c][u])
					stop.Store(true)
					return
				}
				mu.Lock()
				samples = append(samples, sample{t0, took})
				mu.Unlock()
				done[c].Add(1)
			}
		}()
	}
	// progress waits until every client completed n more requests than at
	// the call: load runs by request counts, not by wall time, so a slow
	// machine gets the same amount of work done.
	progress := func(what string, n int64) {
		t.Helper()
		base := make([]int64, clients)
		for c := range base {
			base[c] = done[c].Load()
		}
		waitFor(t, 5*time.Minute, what, func() bool {
			if stop.Load() {
				return true // a client failed; it reported why
			}
			for c := range base {
				if done[c].Load() < base[c]+n {
					return false
				}
			}
			return true
		})
	}
	progress("load before the event", 3)
	event := time.Now()
	if how == "kill" {
		mcs[0].Kill()
	} else {
		mcs[0].Pause()
		t.Cleanup(mcs[0].Resume)
	}
	// Every client uses each of its sessions twice after the event, so
	// every session of n1 has moved.
	progress("load after the event", 2*perClient)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	var before []time.Duration
	for _, s := range samples {
		if s.start.Before(event) {
			before = append(before, s.took)
		}
	}
	slices.Sort(before)
	slow, lastSlow := 0, time.Duration(0)
	var after []time.Duration
	for _, s := range samples {
		end := s.start.Add(s.took)
		if end.Before(event) {
			continue
		}
		if s.took > opTimeout/2 {
			slow++
			if d := end.Sub(event); d > lastSlow {
				lastSlow = d
			}
		}
		if s.start.After(event.Add(opTimeout)) {
			after = append(after, s.took)
		}
	}
	slices.Sort(after)
	t.Logf("%s of n1 (OperationTimeout %v), %d requests: before p50 %v p99 %v; %d requests took > %v; latency normal again %v after the event; from one OperationTimeout later p50 %v p99 %v",
		how, opTimeout, len(samples), pct(before, 50), pct(before, 99), slow, opTimeout/2, lastSlow, pct(after, 50), pct(after, 99))

	st := a.m.Stats()
	// Each client has at most one request in flight when n1 dies; that
	// request's backup fails on n1 and marks it down, and every later
	// operation skips it. More failed operations on n1 than clients means
	// requests kept waiting on the dead node.
	if failed := nodeErrors(st, "n1"); failed == 0 || failed > clients {
		t.Errorf("%d operations failed on the dead node n1, want 1 to %d (one per request in flight)", failed, clients)
	}
	if failed := nodeErrors(st, "n2"); failed != 0 {
		t.Errorf("%d operations failed on the healthy node n2, want 0", failed)
	}
	if st.BackupsFailed != 0 || st.NodeDownEvents != 1 {
		t.Errorf("BackupsFailed = %d, NodeDownEvents = %d; want 0 and 1", st.BackupsFailed, st.NodeDownEvents)
	}
}

// pct returns the p-th percentile of sorted durations, 0 for none.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}
