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
	rt["/slowread"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Get("name")
		time.Sleep(800 * time.Millisecond)
		fmt.Fprint(w, "done")
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
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxInactive: 400 * time.Millisecond}, regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	timedGet(a, "/boom", sid, 2*time.Second) // panics in finish -> save
	if _, _, err := timedGet(a, "/get?k=name", sid, 2*time.Second); err != nil {
		t.Errorf("next request of the session: %v (hangs on d.mu)", err)
	}
	// sweeper (every 100ms here) is stuck on d.mu too, holding a shard RLock.
	done := make(chan struct{})
	go func() { a.m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Errorf("Manager.Close hangs (sweeper stuck on the leaked d.mu)")
	}
}

// Non-sticky: a panic while encoding in the first-byte hook self-deadlocks abandon.
func TestEncodePanicLeavesNoNonStickyLockHeld(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockAll)
	cfg.LockWait = 500 * time.Millisecond
	a := start(t, cfg, regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	_, _, err := timedGet(a, "/boom", sid, 2*time.Second)
	if err != nil {
		t.Errorf("/boom never answers: %v (abandon blocks on s.mu held by beforeWrite)", err)
	}
	start := time.Now()
	timedGet(a, "/get?k=name", sid, 5*time.Second)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("next locking request waited %v: local lock of the stuck request never released", d)
	}
}

// Non-sticky: promotion by a request that does not touch its session sends
// the new cookie but never writes the session under the new key.
func TestPromotionIsSavedWhenTheHandlerIgnoresTheSession(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	cfg.OperationTimeout = 300 * time.Millisecond
	cfg.NodeRetryInterval = time.Minute
	a := start(t, cfg, regressionRoutes())
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	waitFor(t, 5*time.Second, "backup copy on n2", hasKey(mcs[1], "bak:"+keyOf(br.sid())))
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
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=anon")
	fixated := br.sid() // the attacker planted this id in the victim's browser

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); timedGet(a, "/slowread", fixated, 5*time.Second) }() // attacker keeps the entry alive
	time.Sleep(100 * time.Millisecond)
	br.get(a, "/login") // victim logs in: RenewID
	victimID := br.sid()
	if victimID == fixated {
		t.Fatal("RenewID did not change the id")
	}
	body, resp, err := timedGet(a, "/get?k=user", fixated, 5*time.Second)
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
	wg.Wait()
}

// Non-sticky: logout (Invalidate) while another request of the session is in flight.
func TestOldIDCannotJoinAnInvalidatedSessionInFlight(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/login")
	stolen := br.sid()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); timedGet(a, "/slowread", stolen, 5*time.Second) }()
	time.Sleep(100 * time.Millisecond)
	br.get(a, "/logout")
	body, _, _ := timedGet(a, "/get?k=user", stolen, 5*time.Second)
	if body == "victim" {
		t.Errorf("after logout, the old id still reads user=%q", body)
	}
	wg.Wait()
}

// Non-sticky: Manager.Invalidate is undone by an in-flight request's save.
func TestManagerInvalidateIsNotUndoneByARequestInFlight(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), regressionRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); timedGet(a, "/slowset?k=x&v=1", sid, 5*time.Second) }()
	time.Sleep(30 * time.Millisecond)
	a.m.Invalidate(sid)
	wg.Wait()
	b := start(t, nsConfig(mcs, core.LockNone), regressionRoutes())
	if got, _, _ := timedGet(b, "/get?k=name", sid, 5*time.Second); got == "ann" {
		t.Errorf("Manager.Invalidate undone: session readable after in-flight request ended")
	}
}

// Non-sticky: a mutable value read before the first byte and changed after it is lost.
func TestInPlaceChangeAfterTheFirstByteIsSaved(t *testing.T) {
	for _, nonSticky := range []bool{false, true} {
		t.Run(fmt.Sprint("nonSticky=", nonSticky), func(t *testing.T) {
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
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockAll)
	cfg.RejectOnLockTimeout = true
	cfg.OperationTimeout = 300 * time.Millisecond
	cfg.NodeRetryInterval = time.Minute
	a := start(t, cfg, regressionRoutes())
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	waitFor(t, 5*time.Second, "backup copy on n2", hasKey(mcs[1], "bak:"+keyOf(br.sid())))
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
