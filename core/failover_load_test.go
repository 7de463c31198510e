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
// no request fails and no update is lost, and logs what docs/failover.md
// quotes: how many requests waited on the dead node and how long until
// latency was back to normal. Run it with -v to see the figures:
//
//	go test -run TestFailoverUnderLoad -v ./core/
func TestFailoverUnderLoad(t *testing.T) {
	for _, how := range []string{"kill", "pause"} {
		t.Run(how, func(t *testing.T) { failoverUnderLoad(t, how) })
	}
}

type sample struct {
	start time.Time
	took  time.Duration
}

func failoverUnderLoad(t *testing.T, how string) {
	const opTimeout = 500 * time.Millisecond
	mcs := msmtest.StartN(t, 2)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, BackupTimeout: 2 * opTimeout,
		OperationTimeout: opTimeout, NodeRetryInterval: time.Minute}
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
	)
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
					return
				}
				mu.Lock()
				samples = append(samples, sample{t0, took})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	event := time.Now()
	if how == "kill" {
		mcs[0].Kill()
	} else {
		mcs[0].Pause()
		t.Cleanup(mcs[0].Resume)
	}
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()

	var before []time.Duration
	for _, s := range samples {
		if s.start.Before(event) {
			before = append(before, s.took)
		}
	}
	slices.Sort(before)
	p50, p99 := before[len(before)/2], before[len(before)*99/100]
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
		if s.start.After(event.Add(time.Second)) {
			after = append(after, s.took)
		}
	}
	slices.Sort(after)
	t.Logf("%s of n1 (OperationTimeout %v), %d requests: before p50 %v p99 %v; %d requests took > %v; latency normal again %v after the event; 1s later p50 %v p99 %v",
		how, opTimeout, len(samples), p50, p99, slow, opTimeout/2, lastSlow, after[len(after)/2], after[len(after)*99/100])
	if slow > clients {
		t.Errorf("%d requests waited on the dead node: more than one per client", slow)
	}
	if st := a.m.Stats(); st.BackupsFailed != 0 || st.NodeDownEvents != 1 {
		t.Errorf("BackupsFailed = %d, NodeDownEvents = %d; want 0 and 1", st.BackupsFailed, st.NodeDownEvents)
	}
}
