package core_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// nsRoutes adds to shop the handlers the non-sticky tests need.
func nsRoutes() routes {
	rt := shop()
	// slowcount is a read-modify-write with a window in the middle, where
	// an unserialised concurrent request would interleave.
	rt["/slowcount"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		n := s.GetInt("n")
		time.Sleep(3 * time.Millisecond)
		s.Set("n", n+1)
		if tag := r.URL.Query().Get("tag"); tag != "" {
			s.Set("tag", tag) // two saves of the same count differ
		}
		fmt.Fprint(w, n+1)
	}
	rt["/maybe"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("w") == "1" {
			s.Set("w", time.Now().UnixNano())
		} else {
			s.Get("name")
		}
	}
	rt["/slowset"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set(r.URL.Query().Get("k"), r.URL.Query().Get("v"))
		time.Sleep(100 * time.Millisecond)
	}
	return rt
}

// nsConfig is a non-sticky configuration on mcs. Its lock times are long
// (a request may wait a minute for a lock, a lock lives 30 s), so that on a
// busy machine a queue of locked requests never runs out of LockWait and a
// slow holder never loses its lock; tests of those limits set their own.
func nsConfig(mcs []*msmtest.Server, locking string) core.Config {
	return core.Config{Nodes: nodesOf(mcs...), NonSticky: true, LockingMode: locking,
		LockWait: time.Minute, LockExpiry: 30 * time.Second}
}

func TestPrimaryKillServesFromBackupAndPromotes(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 3)
	cfg := nsConfig(mcs, core.LockNone) // n1 is killed: it refuses at once
	cfg.NodeRetryInterval = time.Minute
	a := start(t, cfg, nsRoutes())
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	br.get(a, "/cart/add?item=apple")
	waitFor(t, effectWait, "backup copy on n2", hasKey(mcs[1], "bak:"+keyOf(br.sid())))
	mcs[0].Kill()

	if got, _ := br.get(a, "/cart"); got != "apple|5|ann" {
		t.Fatalf("after primary kill: cart %q", got)
	}
	if n := nodeOfID(br.sid()); n != "n2" {
		t.Errorf("promoted session on %q, want n2 (where its backup was)", n)
	}
	waitFor(t, effectWait, "new backup copy on n3", hasKey(mcs[2], "bak:"+keyOf(br.sid())))
	st := a.m.Stats()
	if st.LoadsFromBackup != 1 || st.SessionsRelocated != 1 {
		t.Errorf("LoadsFromBackup = %d, SessionsRelocated = %d; want 1, 1", st.LoadsFromBackup, st.SessionsRelocated)
	}
	b := start(t, cfg, nsRoutes())
	if got, _ := br.get(b, "/get?k=name"); got != "ann" {
		t.Errorf("instance B after promotion: name %q", got)
	}
}

// TestPrimaryBehindItsBackupKeepsItsID: both copies are written in
// parallel, so another instance can read the primary just before a write
// reaches it and the backup copy just after. The newer copy is served, but
// the session stays on its node: promoting it to the backup's node would
// give it a second primary key, under which two instances' writes are
// never compared, and both would be acknowledged while one is lost
// (TestLockingNoneMayLoseUpdates shows the race).
func TestPrimaryBehindItsBackupKeepsItsID(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	b := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	br := browserOnNode(t, a, "n1", "/set?v=old")
	id := br.sid()
	key := keyOf(id)
	primary := mcClient(mcs[0])
	older, err := primary.Get(key)
	if err != nil {
		t.Fatalf("primary copy: %v", err)
	}
	br.get(a, "/set?v=new")
	// The primary "has not yet received" the write: it holds the older copy.
	if err := primary.Set(&memcache.Item{Key: key, Value: older.Value, Flags: older.Flags}); err != nil {
		t.Fatal(err)
	}
	if got, _ := br.get(b, "/get?k=v"); got != "new" {
		t.Fatalf("B reads v=%q, want the newer copy's new", got)
	}
	if br.sid() != id {
		t.Errorf("B moved the session to %s: a second primary key", br.sid())
	}
	moved := strings.TrimSuffix(key, "-n1") + "-n2"
	if hasKey(mcs[1], moved)() {
		t.Errorf("n2 holds a moved copy %s: the session has two primary keys", moved)
	}
	if st := b.m.Stats(); st.SessionsRelocated != 0 || st.LoadsFromBackup != 1 {
		t.Errorf("SessionsRelocated = %d, LoadsFromBackup = %d; want 0, 1", st.SessionsRelocated, st.LoadsFromBackup)
	}
	br.get(b, "/set?v=newer") // written over the older primary: versions compared
	if got, _ := br.get(a, "/get?k=v"); got != "newer" {
		t.Errorf("A reads v=%q after B's write, want newer", got)
	}
}

// TestPrimaryWithoutTheSessionIsRefilled: a primary node that answers but
// lost the session (restarted empty) gets the backup copy back under the
// same id, so the session keeps one primary key and two copies.
func TestPrimaryWithoutTheSessionIsRefilled(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	br := browserOnNode(t, a, "n1", "/set?v=kept")
	id := br.sid()
	mcs[0].Restart() // empty, on the same port
	b := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	if got, _ := br.get(b, "/get?k=v"); got != "kept" {
		t.Fatalf("after n1 restarted empty, B reads v=%q, want kept", got)
	}
	if br.sid() != id {
		t.Errorf("session moved to %s; want it to keep %s", br.sid(), id)
	}
	waitFor(t, effectWait, "the session written back to n1", hasKey(mcs[0], keyOf(id)))
}

func TestReturningNodeWithOldDataDoesNotRollBack(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	cfg.OperationTimeout = hungTimeout // n1 is paused: one write waits this long
	cfg.NodeRetryInterval = 300 * time.Millisecond
	a := start(t, cfg, nsRoutes())
	br := browserOnNode(t, a, "n1", "/set?v=old")
	oldID := br.sid()
	waitFor(t, effectWait, "backup copy", hasKey(mcs[1], "bak:"+keyOf(oldID)))
	mcs[0].Pause() // n1 keeps its (soon old) copy
	br.get(a, "/set?v=new")
	if nodeOfID(br.sid()) != "n2" {
		t.Fatalf("write with n1 hung did not move the session: %s", br.sid())
	}
	mcs[0].Resume()
	time.Sleep(400 * time.Millisecond) // past NodeRetryInterval: n1 is used again

	stale := newBrowser(t) // a client still holding the old id
	stale.setSID(oldID)
	if got, _ := stale.get(a, "/get?k=v"); got != "new" {
		t.Errorf("old id after n1 came back reads v=%q, want new", got)
	}
}

func TestReadYourWritesAcrossInstances(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	b := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	br := newBrowser(t)
	for i := range 200 {
		v := strconv.Itoa(i)
		br.get(a, "/set?v="+v)
		if got, _ := br.get(b, "/get?k=v"); got != v {
			t.Fatalf("write %d on A, read on B gives %q", i, got)
		}
	}
}

func TestNonStickyReadOnlyCostsOneRoundTrip(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	// The primary and the backup copy are written; the backup's TTL is
	// fresh, so reads refresh nothing but the primary (their gat).
	if !hasKey(mcs[0], "bak:"+keyOf(br.sid()))() && !hasKey(mcs[1], "bak:"+keyOf(br.sid()))() {
		t.Fatal("no backup copy after the response: both copies are written before it")
	}
	b0, b1 := mcs[0].Counters(), mcs[1].Counters()
	for range 10 {
		br.get(a, "/get?k=name")
	}
	// Each read is one round trip to each node, in parallel: a read of the
	// primary (gets, since this instance set its TTL moments ago; gat once
	// a quarter of MaxInactive has passed), and one get of the two keys the
	// other node may hold (the backup copy, the session moved there). No
	// writes.
	d0, d1 := mcs[0].Counters().Sub(b0), mcs[1].Counters().Sub(b1)
	if d0.Set+d1.Set+d0.Delete+d1.Delete != 0 || d0.Touch+d1.Touch+d0.Get+d1.Get != 30 {
		t.Errorf("10 read-only requests cost %+v, %+v; want 10 reads of the primary and 10 two-key gets, no writes", d0, d1)
	}
}

func stringsCut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// A save right after this instance loaded the session sends one cas per
// copy: the load read each copy with its CAS id (gets on the primary,
// whose TTL this instance set moments ago, so no gat is needed; the
// backup node's multi-get), and the cas with that id is the whole
// compare-and-set. Before, every save read both copies again (gets + cas).
func TestNonStickySaveSendsOneCASPerCopy(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), nsRoutes()) // MaxInactive 30 min: fresh for 7.5 min
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	c0, c1 := mcs[0].Counters(), mcs[1].Counters()
	if _, resp := br.get(a, "/set?name=bob"); resp.StatusCode != 200 {
		t.Fatalf("change: status %d", resp.StatusCode)
	}
	p, b := mcs[0].Counters().Sub(c0), mcs[1].Counters().Sub(c1)
	if p.Get != 1 || p.Touch != 0 || p.CAS != 1 || p.Set != 1 {
		t.Errorf("primary: %d keys read, %d touched, %d cas of %d storage commands; want the load's gets and one cas", p.Get, p.Touch, p.CAS, p.Set)
	}
	if b.Get != 2 || b.CAS != 1 || b.Set != 1 {
		t.Errorf("backup node: %d keys read, %d cas of %d storage commands; want the load's multi-get of 2 keys and one cas", b.Get, b.CAS, b.Set)
	}
	if got, _ := br.get(start(t, nsConfig(mcs, core.LockNone), nsRoutes()), "/get?k=name"); got != "bob" {
		t.Errorf("another instance reads name %q, want bob", got)
	}
}

// The CAS id a load saw is only a shortcut: when another instance wrote
// the session in between, the cas fails and the save reads the copy
// again, finds the newer version and is refused (503), never written over
// it.
func TestNonStickySaveAfterAnotherInstanceWroteIsRefused(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	b := start(t, cfg, nsRoutes())
	rt := nsRoutes()
	var other *browser
	rt["/race"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Get("name") // loaded (with its CAS ids) before the other write
		other.get(b, "/set?name=bob")
		s.Set("name", "carl")
	}
	a := start(t, cfg, rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	other = newBrowser(t)
	other.setSID(br.sid())
	if _, resp := br.get(a, "/race"); resp.StatusCode != 503 {
		t.Errorf("save over a version written meanwhile: status %d, want 503", resp.StatusCode)
	}
	if got, _ := other.get(start(t, cfg, nsRoutes()), "/get?k=name"); got != "bob" {
		t.Errorf("name %q, want bob (the acknowledged write of the other instance)", got)
	}
}

// A read-only user keeps a non-sticky session alive: loads that skip the
// gat (this instance refreshed the TTL less than MaxInactive/4 ago) never
// let it run out.
func TestNonStickyReadSessionStaysAlive(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	// MaxInactive 8s with a read every second leaves seven seconds of
	// slack for a slow machine between reads.
	const maxInactive = 8 * time.Second
	cfg := nsConfig(mcs, core.LockNone)
	cfg.MaxInactive = maxInactive
	a := start(t, cfg, nsRoutes())
	br := newBrowser(t)
	sent := time.Now()
	br.get(a, "/set?name=ann")
	for t0 := time.Now(); time.Since(t0) < 2*maxInactive+time.Second; {
		time.Sleep(time.Second) // the user's pace, not a wait for an effect
		prev := sent
		sent = time.Now()
		if got, _ := br.get(a, "/get?k=name"); got != "ann" {
			if gap := time.Since(prev); gap > maxInactive-time.Second {
				t.Skipf("the machine stalled: up to %v between two reads, about MaxInactive (%v): no verdict", gap, maxInactive)
			}
			t.Fatalf("read %q, want ann: the session expired while read every second", got)
		}
	}
}
