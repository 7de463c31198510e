// Regression tests for defects found in review: each failed before its fix.

package core_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// boom's encoding panics (a user MarshalCBOR with a bug).
type boom struct{}

func (boom) MarshalCBOR() ([]byte, error) { panic("boom") }

func regressionRoutes() routes {
	rt := nsRoutes()
	rt["/boom"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("b", boom{})
		fmt.Fprint(w, "x")
	}
	rt["/login"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("user", "victim")
		s.RenewID()
		fmt.Fprint(w, "ok")
	}
	rt["/logout"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Invalidate()
		fmt.Fprint(w, "bye")
	}
	rt["/mutate"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		v, _ := s.Get("m")
		mm := v.(map[string]any)
		fmt.Fprint(w, "first byte ")
		mm["b"] = "2" // in-place change after the first byte
	}
	rt["/setmap"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("m", map[string]any{"a": "1"})
	}
	rt["/getmap"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		v, _ := s.Get("m")
		fmt.Fprint(w, v)
	}
	rt["/short"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("name", "ann")
		s.SetMaxInactive(2 * time.Second)
	}
	return rt
}

// gate holds a request inside its handler until the test releases it, so
// a test knows the request is in flight rather than hoping a sleep was long
// enough.
type gate struct {
	entered, release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

// in is called by the handler: it reports that the request got there and
// blocks until open.
func (g *gate) in() {
	g.entered <- struct{}{}
	<-g.release
}

// wait waits until a handler called in.
func (g *gate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(effectWait):
		t.Fatalf("the held request never reached its handler")
	}
}

// open lets the held request finish.
func (g *gate) open() { close(g.release) }

// heldRoutes is regressionRoutes plus /heldread (reads the session, then
// waits at g) and /heldset (sets k=v, then waits at g).
func heldRoutes(g *gate) routes {
	rt := regressionRoutes()
	rt["/heldread"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Get("name")
		g.in()
		fmt.Fprint(w, "done")
	}
	rt["/heldset"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set(r.URL.Query().Get("k"), r.URL.Query().Get("v"))
		g.in()
	}
	return rt
}

func timedGet(inst *instance, path, sid string, to time.Duration) (string, *http.Response, error) {
	req, _ := http.NewRequest("GET", inst.srv.URL+path, nil)
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: sid})
	}
	resp, err := (&http.Client{Timeout: to}).Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp, nil
}

// Sticky: a panic while encoding in save leaves d.mu locked forever.
func TestEncodePanicLeavesNoStickyLockHeld(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxInactive: 400 * time.Millisecond}, regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	timedGet(a, "/boom", sid, effectWait) // panics in finish -> save
	if _, _, err := timedGet(a, "/get?k=name", sid, effectWait); err != nil {
		t.Errorf("next request of the session: %v (hangs on d.mu)", err)
	}
	// sweeper (every 100ms here) is stuck on d.mu too, holding a shard RLock.
	done := make(chan struct{})
	go func() { a.m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(effectWait):
		t.Errorf("Manager.Close hangs (sweeper stuck on the leaked d.mu)")
	}
}

// Non-sticky: a panic while encoding in the first-byte hook self-deadlocks abandon.
// A lock the stuck request kept (the local one, or the memcached one: its
// LockExpiry outlives LockWait) makes the next request time out and get
// 503, whatever the machine's speed.
func TestEncodePanicLeavesNoNonStickyLockHeld(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockAll)
	cfg.LockWait = 5 * time.Second
	cfg.LockExpiry = time.Minute
	cfg.RejectOnLockTimeout = true
	a := start(t, cfg, regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	_, _, err := timedGet(a, "/boom", sid, effectWait)
	if err != nil {
		t.Errorf("/boom never answers: %v (abandon blocks on s.mu held by beforeWrite)", err)
	}
	body, resp, err := timedGet(a, "/get?k=name", sid, effectWait)
	if err != nil || resp.StatusCode != 200 || body != "ann" {
		t.Errorf("next locking request: %v %v %q; want 200 ann: a lock of the stuck request was never released", err, resp, body)
	}
	if st := a.m.Stats(); st.LockTimeouts != 0 {
		t.Errorf("LockTimeouts = %d, want 0", st.LockTimeouts)
	}
}

// Non-sticky: promotion by a request that does not touch its session sends
// the new cookie but never writes the session under the new key.
func TestPromotionIsSavedWhenTheHandlerIgnoresTheSession(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone) // n1 is killed: it refuses at once
	cfg.NodeRetryInterval = time.Minute
	a := start(t, cfg, regressionRoutes())
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	waitFor(t, effectWait, "backup copy on n2", hasKey(mcs[1], "bak:"+keyOf(br.sid())))
	old := br.sid()
	mcs[0].Kill()
	br.get(a, "/nothing") // handler never touches the session
	t.Logf("cookie %s -> %s", old, br.sid())
	if got, _ := br.get(a, "/get?k=name"); got != "ann" {
		t.Errorf("after a non-touching request during failover: name = %q, want ann (session lost)", got)
	}
}

// Non-sticky: RenewID renames the shared active object; a concurrent request
// carrying the OLD (fixated) id joins it and is handed the new id.
func TestOldIDCannotJoinARenamedSessionInFlight(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	g := newGate()
	a := start(t, nsConfig(mcs, core.LockNone), heldRoutes(g))
	br := newBrowser(t)
	br.get(a, "/set?name=anon")
	fixated := br.sid() // the attacker planted this id in the victim's browser

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); timedGet(a, "/heldread", fixated, effectWait) }() // attacker keeps the entry alive
	defer wg.Wait()
	defer g.open()
	g.wait(t)
	br.get(a, "/login") // victim logs in: RenewID
	victimID := br.sid()
	if victimID == fixated {
		t.Fatal("RenewID did not change the id")
	}
	body, resp, err := timedGet(a, "/get?k=user", fixated, effectWait)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, c := range resp.Cookies() {
		if c.Name == core.DefaultCookieName {
			got = c.Value
		}
	}
	if body == "victim" || got == victimID {
		t.Errorf("attacker with the pre-login id reads user=%q and receives cookie %q (victim's new id %q)", body, got, victimID)
	}
}

// Non-sticky: logout (Invalidate) while another request of the session is in flight.
func TestOldIDCannotJoinAnInvalidatedSessionInFlight(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	g := newGate()
	a := start(t, nsConfig(mcs, core.LockNone), heldRoutes(g))
	br := newBrowser(t)
	br.get(a, "/login")
	stolen := br.sid()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); timedGet(a, "/heldread", stolen, effectWait) }()
	defer wg.Wait()
	defer g.open()
	g.wait(t)
	br.get(a, "/logout")
	body, _, _ := timedGet(a, "/get?k=user", stolen, effectWait)
	if body == "victim" {
		t.Errorf("after logout, the old id still reads user=%q", body)
	}
}

// Non-sticky: Manager.Invalidate is undone by an in-flight request's save.
func TestManagerInvalidateIsNotUndoneByARequestInFlight(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	g := newGate()
	a := start(t, nsConfig(mcs, core.LockNone), heldRoutes(g))
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); timedGet(a, "/heldset?k=x&v=1", sid, effectWait) }()
	g.wait(t) // the request has set x and not yet saved
	a.m.Invalidate(sid)
	g.open()
	wg.Wait()
	b := start(t, nsConfig(mcs, core.LockNone), regressionRoutes())
	if got, _, _ := timedGet(b, "/get?k=name", sid, effectWait); got == "ann" {
		t.Errorf("Manager.Invalidate undone: session readable after in-flight request ended")
	}
}

// Non-sticky: a mutable value read before the first byte and changed after it is lost.
func TestInPlaceChangeAfterTheFirstByteIsSaved(t *testing.T) {
	t.Parallel()
	for _, nonSticky := range []bool{false, true} {
		t.Run(fmt.Sprint("nonSticky=", nonSticky), func(t *testing.T) {
			t.Parallel()
			mcs := msmtest.StartN(t, 2)
			cfg := core.Config{Nodes: nodesOf(mcs...), NonSticky: nonSticky, SyncBackup: true}
			a := start(t, cfg, regressionRoutes())
			b := start(t, cfg, regressionRoutes())
			br := newBrowser(t)
			br.get(a, "/setmap")
			br.get(a, "/mutate")
			if got, _ := br.get(b, "/getmap"); !strings.Contains(got, "b:2") {
				t.Errorf("map after in-place change: %q", got)
			}
		})
	}
}

// Non-sticky: SetMaxInactive shorter than the config is not enforced: every load's gat resets the TTL.
func TestNonStickyEnforcesThePerSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	cfg.MaxInactive = 20 * time.Second
	a := start(t, cfg, regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/short") // 2s idle timeout
	time.Sleep(500 * time.Millisecond)
	br.get(a, "/get?k=name")
	time.Sleep(4 * time.Second) // idle 4s > 2s
	if got, _ := br.get(a, "/get?k=name"); got == "ann" {
		t.Errorf("session with a 2s idle timeout still alive after 4s idle")
	}
}

// Non-sticky: with RejectOnLockTimeout, a dead primary turns every request of its sessions into 503.
func TestDeadPrimaryIsNoLockTimeout(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockAll) // n1 is killed: it refuses at once
	cfg.RejectOnLockTimeout = true
	cfg.NodeRetryInterval = time.Minute
	a := start(t, cfg, regressionRoutes())
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	waitFor(t, effectWait, "backup copy on n2", hasKey(mcs[1], "bak:"+keyOf(br.sid())))
	mcs[0].Kill()
	for i := range 3 {
		_, resp := br.get(a, "/get?k=name")
		if resp.StatusCode == 503 {
			t.Errorf("request %d after primary death: 503 instead of failover to the backup", i)
		}
	}
}

// Sticky: LRU eviction of a session whose async backup is still queued.
func TestNodeStatsUpNeedsASuccessfulProbe(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, NodeRetryInterval: 300 * time.Millisecond}
	a := start(t, cfg, regressionRoutes())
	mcs[0].Kill()
	for range 6 {
		newBrowser(t).get(a, "/set?x=1")
	}
	time.Sleep(400 * time.Millisecond)
	for _, n := range a.m.Stats().Nodes {
		t.Logf("node %s up=%v ops=%v", n.ID, n.Up, n.Ops)
		if n.ID == "n1" && n.Up {
			t.Errorf("killed node n1 reported Up with no successful probe")
		}
	}
}

func TestPackingSurvivesAnEncoderPanic(t *testing.T) {
	t.Parallel()
	a := start(t, core.Config{CompactAfter: 100 * time.Millisecond}, regressionRoutes()) // local-only
	br := newBrowser(t)
	br.get(a, "/boom")
	br.get(a, "/set?name=ann")
	time.Sleep(500 * time.Millisecond) // sweeps try to pack the session: its encoder panics
	if got, _ := br.get(a, "/get?k=name"); got != "ann" {
		t.Errorf("session after a panicking pack: name = %q", got)
	}
	if st := a.m.Stats(); st.SessionsPacked != 0 {
		t.Errorf("a session with an unencodable attribute was packed")
	}
}
