package core_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Planned restarts of memcached nodes (docs/operations.md, "Rolling
// restarts"). In non-sticky mode memcached is the only store: a node
// restarted empty loses its items, and the copy on the other node covers
// one node's loss only. With a memory file (memcached -e) a node restarted
// with SIGUSR1 comes back with every item, so restarting every node in
// turn keeps every session, also those nobody used in between.

// warmNodes starts n memcached, each with its own memory file.
func warmNodes(t *testing.T, n int) []*msmtest.Server {
	t.Helper()
	dir := t.TempDir()
	var mcs []*msmtest.Server
	for i := range n {
		mcs = append(mcs, msmtest.Start(t, msmtest.Options{MemoryFile: filepath.Join(dir, fmt.Sprintf("n%d.memory", i+1))}))
	}
	return mcs
}

// idleSessions creates n sessions through inst, each with v=idle-<i>.
func idleSessions(t *testing.T, inst *instance, n int) []*browser {
	t.Helper()
	var out []*browser
	for i := range n {
		br := newBrowser(t)
		if _, resp := br.get(inst, fmt.Sprintf("/set?v=idle-%d", i)); resp.StatusCode != 200 {
			t.Fatalf("setup: status %d", resp.StatusCode)
		}
		out = append(out, br)
	}
	return out
}

func TestRollingWarmRestartKeepsEverySession(t *testing.T) {
	t.Parallel()
	mcs := warmNodes(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	cfg.NodeRetryInterval = 200 * time.Millisecond // a restarted node is used again soon
	a, b := start(t, cfg, nsRoutes()), start(t, cfg, nsRoutes())
	idle := idleSessions(t, a, 30)

	// Active users write all along; each remembers its last acknowledged
	// value and the session's base (a new base would be a logout).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	active := make([]*browser, 6)
	acked := make([]string, len(active))
	bases := make([]string, len(active))
	for i := range active {
		active[i] = newBrowser(t)
		active[i].get(a, "/set?v=start")
		acked[i], bases[i] = "start", keyOf(active[i].sid())[:32]
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				v := fmt.Sprintf("w%d-%d", i, n)
				inst := []*instance{a, b}[n%2]
				if _, resp := active[i].get(inst, "/set?v="+v); resp.StatusCode == 200 {
					acked[i] = v
				}
			}
		})
	}
	for _, mc := range mcs { // one node at a time
		mc.WarmRestart()
		// The active users' requests probe the node after its retry
		// interval; wait until both instances use it again.
		waitFor(t, effectWait, "both nodes up", func() bool {
			for _, inst := range []*instance{a, b} {
				for _, n := range inst.m.Stats().Nodes {
					if !n.Up {
						return false
					}
				}
			}
			return true
		})
	}
	close(stop)
	wg.Wait()

	for i, br := range idle {
		want := fmt.Sprintf("idle-%d", i)
		if got, _ := br.get(b, "/get?k=v"); got != want {
			t.Errorf("idle session %d after a rolling warm restart: v=%q, want %s", i, got, want)
		}
	}
	for i, br := range active {
		if got, _ := br.get(b, "/get?k=v"); got != acked[i] {
			t.Errorf("active user %d: v=%q, want the last acknowledged %s", i, got, acked[i])
		}
		if base := keyOf(br.sid())[:32]; base != bases[i] {
			t.Errorf("active user %d got a new session (%s, was %s): logged out", i, base, bases[i])
		}
	}
}

// The contrast: restarted empty one after the other, the two nodes lose
// every session nobody used in between (each had its two copies on them).
// This is why the runbook restarts warm, or waits for traffic to have
// rewritten the sessions before the next node.
func TestRollingColdRestartLosesIdleSessions(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	a := start(t, cfg, nsRoutes())
	idle := idleSessions(t, a, 10)
	mcs[0].Restart()
	mcs[1].Restart()
	b := start(t, cfg, nsRoutes())
	for i, br := range idle {
		if got, _ := br.get(b, "/get?k=v"); got != "<none>" {
			t.Errorf("idle session %d survived two cold restarts: v=%q (the test's premise is wrong)", i, got)
		}
	}
}
