package core_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Durability: a 2xx answer means the change survives the loss of either
// node; a change that could not be stored is answered 503, never 200.
// Nodes are made slow or dead by SIGSTOP or SIGKILL, never by a tight
// timeout on a healthy node: OperationTimeout here only bounds how long a
// request waits on a node that really stopped.

// durableConfig is non-sticky mode on mcs with locking; start gives its
// healthy nodes timeouts of seconds.
func durableConfig(mcs []*msmtest.Server, locking string) core.Config {
	return nsConfig(mcs, locking)
}

// nsStallConfig is durableConfig for tests that stop a node: a request
// waits at most 500 ms on the stopped node (OperationTimeout bounds how
// long a request waits on a node that really stopped, never a verdict on
// a healthy one), and a lock whose release the stopped node missed frees
// itself after 5 s.
func nsStallConfig(mcs []*msmtest.Server, locking string) core.Config {
	cfg := nsConfig(mcs, locking)
	cfg.OperationTimeout = 500 * time.Millisecond
	cfg.LockExpiry = 5 * time.Second
	return cfg
}

// primaryAndOther returns the test server that holds the session's primary
// copy and the other one.
func primaryAndOther(mcs []*msmtest.Server, sid string) (primary, other *msmtest.Server) {
	if nodeOfID(sid) == "n2" {
		return mcs[1], mcs[0]
	}
	return mcs[0], mcs[1]
}

// storedValue reads key from s directly, "" when absent.
func storedValue(s *msmtest.Server, key string) []byte {
	it, err := mcClient(s).Get(key)
	if err != nil {
		return nil
	}
	return it.Value
}

func TestNonStickyChangeIsOnBothNodesBeforeTheAnswer(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	for _, victim := range []string{"primary", "backup"} {
		t.Run("kill "+victim, func(t *testing.T) {
			a := start(t, durableConfig(mcs, core.LockAll), nsRoutes())
			b := start(t, durableConfig(mcs, core.LockAll), nsRoutes())
			br := newBrowser(t)
			br.get(a, "/set?v=1")
			br.get(a, "/set?v=2")
			primary, other := primaryAndOther(mcs, br.sid())
			key := keyOf(br.sid())
			// No waiting: both copies are there when the answer is.
			if storedValue(primary, key) == nil || storedValue(other, "bak:"+key) == nil {
				t.Fatalf("after a 200: primary copy %v, backup copy %v; want both",
					storedValue(primary, key) != nil, storedValue(other, "bak:"+key) != nil)
			}
			if victim == "primary" {
				primary.Kill()
			} else {
				other.Kill()
			}
			if got, _ := br.get(b, "/get?k=v"); got != "2" {
				t.Errorf("after kill -9 of the %s node, another instance reads v=%q, want 2", victim, got)
			}
			if victim == "primary" {
				primary.Restart()
			} else {
				other.Restart()
			}
		})
	}
}

func TestNonStickyAnswers503WhenNoNodeTakesTheChange(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	cfg := nsStallConfig(mcs, core.LockNone)
	rt := nsRoutes()
	// /stall-then-set stops both nodes while the handler runs: the session
	// was loaded, its save meets no node.
	rt["/stall-then-set"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Get("v")
		mcs[0].Pause()
		mcs[1].Pause()
		s.Set("v", r.URL.Query().Get("v"))
		fmt.Fprint(w, "ok")
	}
	a := start(t, cfg, rt)
	br := newBrowser(t)
	br.get(a, "/set?v=kept")
	sid := br.sid()

	body, resp := br.get(a, "/stall-then-set?v=lost")
	mcs[0].Resume()
	mcs[1].Resume()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, core.ErrSaveFailed.Error()) {
		t.Errorf("change stored on no node: status %d %q, want 503 with %q", resp.StatusCode, body, core.ErrSaveFailed)
	}
	if br.sid() != sid {
		t.Errorf("the 503 changed the cookie from %s to %q", sid, br.sid())
	}
	if st := a.m.Stats(); st.SavesFailed != 1 {
		t.Errorf("SavesFailed = %d, want 1", st.SavesFailed)
	}
	// The change was not acknowledged, and the session is not lost: once
	// the nodes answer, it reads the last acknowledged state, or the
	// change, if a stopped node applied the cas it held in its socket when
	// it resumed (a command that timed out may still have been executed).
	waitFor(t, effectWait, "the nodes to be used again", func() bool {
		got, resp := br.get(a, "/get?k=v")
		if resp.StatusCode == 200 && got != "kept" && got != "lost" {
			t.Fatalf("after the failed save, v=%q, want kept (or lost, applied late)", got)
		}
		return resp.StatusCode == 200
	})

	// (Reading it may have promoted it while a node was still marked down:
	// a new cookie then, which is fine.)
	sid = br.sid()

	// Both nodes dead: a request that would create a session is refused,
	// and a request with a session is refused before its handler runs,
	// without losing its cookie.
	mcs[0].Kill()
	mcs[1].Kill()
	fresh := newBrowser(t)
	if body, resp := fresh.get(a, "/set?v=new"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("new session with both nodes dead: status %d %q, want 503", resp.StatusCode, body)
	}
	if fresh.sid() != "" {
		t.Errorf("a session nobody stored was handed out: %s", fresh.sid())
	}
	body, resp = br.get(a, "/set?v=new")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, core.ErrUnavailable.Error()) {
		t.Errorf("existing session with both nodes dead: status %d %q, want 503 %q", resp.StatusCode, body, core.ErrUnavailable)
	}
	if br.sid() != sid {
		t.Errorf("unavailable memcached logged the user out: cookie %q, want %s", br.sid(), sid)
	}
}

// TestNonStickyStallLogsNobodyOut: one node, frozen 1.5 s with a 500 ms
// OperationTimeout. Requests meanwhile get 503 (unavailable), never a new
// session or an expired cookie; afterwards every user has their data.
func TestNonStickyStallLogsNobodyOut(t *testing.T) {
	mc := msmtest.Start(t)
	a := start(t, nsStallConfig([]*msmtest.Server{mc}, core.LockNone), nsRoutes())
	var users []*browser
	for i := range 10 {
		br := newBrowser(t)
		br.get(a, "/set?name=u"+strconv.Itoa(i))
		users = append(users, br)
	}
	mc.Pause()
	for _, br := range users {
		sid := br.sid()
		_, resp := br.get(a, "/get?k=name")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("stalled memcached: status %d, want 503", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			t.Errorf("stalled memcached touched the cookie: %s", c)
		}
		if br.sid() != sid {
			t.Errorf("cookie changed during the stall")
		}
	}
	mc.Resume()
	for i, br := range users {
		want := "u" + strconv.Itoa(i)
		waitFor(t, 20*time.Second, "user "+want+" to read their session", func() bool {
			got, _ := br.get(a, "/get?k=name")
			return got == want
		})
	}
}

// TestPrimaryStalledMidRunLosesNoUpdate: concurrent read-modify-write
// requests of one session over two instances with locking "all"; the
// primary node is stopped mid-run and resumed. Every acknowledged
// increment wrote a value no other acknowledged one wrote (no lost
// update), and the final count is at least the highest one acknowledged.
func TestPrimaryStalledMidRunLosesNoUpdate(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsStallConfig(mcs, core.LockAll), nsRoutes())
	b := start(t, nsStallConfig(mcs, core.LockAll), nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid() // every request sends this id, also after the session moves
	primary, _ := primaryAndOther(mcs, sid)

	var mu sync.Mutex
	var acked []int
	var done atomic.Int32
	hc := &http.Client{Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	const users, each = 6, 8
	for u := range users {
		wg.Go(func() {
			inst := []*instance{a, b}[u%2]
			for range each {
				req, _ := http.NewRequest("GET", inst.srv.URL+"/count", nil)
				req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: sid})
				resp, err := hc.Do(req)
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					n, _ := strconv.Atoi(string(body))
					mu.Lock()
					acked = append(acked, n)
					mu.Unlock()
				}
				done.Add(1)
			}
		})
	}
	waitFor(t, 60*time.Second, "a quarter of the requests", func() bool { return done.Load() >= users*each/4 })
	primary.Pause()
	waitFor(t, 120*time.Second, "half of the requests", func() bool { return done.Load() >= users*each/2 })
	primary.Resume()
	wg.Wait()

	slices.Sort(acked)
	for i := 1; i < len(acked); i++ {
		if acked[i] == acked[i-1] {
			t.Errorf("two acknowledged increments both wrote %d: an update was lost", acked[i])
		}
	}
	if len(acked) == 0 {
		t.Fatal("no request was acknowledged")
	}
	probe := newBrowser(t)
	probe.setSID(sid)
	var final int
	waitFor(t, 20*time.Second, "the final count", func() bool {
		got, resp := probe.get(a, "/get?k=n")
		final, _ = strconv.Atoi(got)
		return resp.StatusCode == 200
	})
	if top := acked[len(acked)-1]; final < top {
		t.Errorf("final count %d is below the acknowledged %d", final, top)
	}
	t.Logf("%d of %d requests acknowledged, final count %d", len(acked), users*each, final)
}

// TestSlowNodeIsNotDeadForLong: a node that timed out once is skipped for
// about a second, not for NodeRetryInterval.
func TestSlowNodeIsNotDeadForLong(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	cfg := nsStallConfig(mcs, core.LockNone)
	cfg.NodeRetryInterval = 10 * time.Minute
	a := start(t, cfg, nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?v=1")
	primary, _ := primaryAndOther(mcs, br.sid())
	primary.Pause()
	br.get(a, "/set?v=2") // times out on the stalled node
	primary.Resume()
	if st := a.m.Stats(); st.NodeDownEvents == 0 {
		t.Fatal("the stalled node was never marked down")
	}
	waitFor(t, 30*time.Second, "the node that only stalled to be up again", func() bool {
		br.get(a, "/set?v="+strconv.Itoa(int(time.Now().UnixNano())))
		for _, n := range a.m.Stats().Nodes {
			if !n.Up {
				return false
			}
		}
		return true
	})
}

// TestMemcachedRestartWithPooledConnections: a restarted memcached leaves
// every pooled connection dead; the first request after the restart
// drops them and works on a fresh one, without marking the node down.
func TestMemcachedRestartWithPooledConnections(t *testing.T) {
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true}
	a := start(t, cfg, shop())
	// Fill the pool: many sessions written at once.
	var wg sync.WaitGroup
	for range 48 {
		wg.Go(func() { newBrowser(t).get(a, "/set?name=x") })
	}
	wg.Wait()
	mc.Restart()
	br := newBrowser(t)
	if _, resp := br.get(a, "/set?name=after"); resp.StatusCode != 200 {
		t.Fatalf("login after restart: status %d", resp.StatusCode)
	}
	if st := a.m.Stats(); st.NodeDownEvents != 0 || st.BackupsOK != 49 {
		t.Errorf("after a restart: NodeDownEvents=%d BackupsOK=%d, want 0 and 49", st.NodeDownEvents, st.BackupsOK)
	}
	if storedValue(mc, keyOf(br.sid())) == nil {
		t.Error("the session made after the restart is not in memcached")
	}
}

// TestNonStickyOversizedChangeIsAnError: a change that makes the session
// too large for memcached is answered 503 (it could not be stored), and
// the stored session keeps its last good state.
func TestNonStickyOversizedChangeIsAnError(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	rt := nsRoutes()
	rt["/big"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("login", "admin")
		s.Set("blob", strings.Repeat("x", 2<<20))
		fmt.Fprint(w, "ok")
	}
	a := start(t, durableConfig(mcs, core.LockAll), rt)
	br := newBrowser(t)
	br.get(a, "/set?login=guest")
	body, resp := br.get(a, "/big")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "too large") {
		t.Errorf("oversized change: status %d %.100q, want 503 naming the size", resp.StatusCode, body)
	}
	if got, _ := br.get(a, "/get?k=login"); got != "guest" {
		t.Errorf("after a refused change, login = %q, want the stored guest", got)
	}
}

// TestStaleStickyWriteNeverReplacesANewerCopy: instance A holds an old
// local copy of a session that instance B has taken over and saved since.
// A request that reaches A with the old cookie changes A's copy; its
// backup must not replace B's newer one in memcached (a late write of an
// older version). A counts the conflict and drops its stale copy, so its
// next request loads B's state.
func TestStaleStickyWriteNeverReplacesANewerCopy(t *testing.T) {
	mc := msmtest.Start(t)
	cfg := func(route string) core.Config {
		return core.Config{Nodes: nodesOf(mc), SyncBackup: true, BackupTimeout: 10 * time.Second, Route: route}
	}
	a := start(t, cfg("a"), shop())
	b := start(t, cfg("b"), shop())
	br := newBrowser(t)
	br.get(a, "/set?v=from-a")
	oldID := br.sid()
	br.get(b, "/set?v=from-b") // B takes over and saves a newer version
	stale := newBrowser(t)
	stale.setSID(oldID) // routed to A, which still has its copy
	stale.get(a, "/set?v=stale")
	if got, _ := newBrowserWith(t, br.sid()).get(b, "/get?k=v"); got != "from-b" {
		t.Errorf("memcached holds v=%q after A's stale write, want B's from-b", got)
	}
	if st := a.m.Stats(); st.SaveConflicts != 1 {
		t.Errorf("A's SaveConflicts = %d, want 1", st.SaveConflicts)
	}
	if got, _ := stale.get(a, "/get?k=v"); got != "from-b" {
		t.Errorf("A after the conflict reads v=%q, want B's from-b (reloaded)", got)
	}
}

// newBrowserWith is a browser that sends sid as its session cookie.
func newBrowserWith(t *testing.T, sid string) *browser {
	br := newBrowser(t)
	br.setSID(sid)
	return br
}
