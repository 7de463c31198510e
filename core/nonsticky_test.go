package core_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// concurrentRMW runs n concurrent /slowcount requests of one session,
// spread over insts, and returns the final count and how many requests
// were acknowledged (2xx). With mustSucceed, any other status fails t.
func concurrentRMW(t *testing.T, insts []*instance, n int, mustSucceed bool) (final, acked int) {
	r := concurrentRMWAcks(t, insts, n, 1, mustSucceed)
	return r.final, r.acked
}

// rmwResult is what concurrentRMWAcks saw: the final count, the number of
// acknowledged (2xx) requests, and for each count a 2xx answered the
// instances that answered it.
type rmwResult struct {
	final, acked int
	ackedBy      map[int]map[*instance]bool
}

// concurrentRMWAcks is concurrentRMW with workers concurrent clients that
// each send perWorker requests one after the other, so the count climbs
// while they overlap.
func concurrentRMWAcks(t *testing.T, insts []*instance, workers, perWorker int, mustSucceed bool) rmwResult {
	br := newBrowser(t)
	br.get(insts[0], "/set?name=ann")
	sid := br.sid()
	r := rmwResult{ackedBy: map[int]map[*instance]bool{}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := insts[w%len(insts)]
			for i := range perWorker {
				resp := rawGet(t, inst, fmt.Sprintf("/slowcount?tag=%d-%d", w, i), core.DefaultCookieName+"="+sid)
				if resp.StatusCode != 200 {
					if mustSucceed {
						t.Errorf("status %d", resp.StatusCode)
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				count, err := strconv.Atoi(string(body))
				if err != nil {
					t.Errorf("acknowledged /slowcount answered %q", body)
				}
				mu.Lock()
				r.acked++
				if r.ackedBy[count] == nil {
					r.ackedBy[count] = map[*instance]bool{}
				}
				r.ackedBy[count][inst] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got, _ := br.get(insts[0], "/get?k=n")
	r.final, _ = strconv.Atoi(got)
	return r
}

func TestLockingAllLosesNoUpdateAcrossInstances(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockAll), nsRoutes())
	b := start(t, nsConfig(mcs, core.LockAll), nsRoutes())
	if got, _ := concurrentRMW(t, []*instance{a, b}, 50, true); got != 50 {
		t.Errorf("with locking all, %d of 50 updates survived", got)
	}
	if a.m.Stats().LockWaits+b.m.Stats().LockWaits == 0 {
		t.Error("no lock wait counted under contention")
	}
}

func TestLockingAllSerialisesRequestsOnOneInstance(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockAll), nsRoutes())
	if got, _ := concurrentRMW(t, []*instance{a}, 30, true); got != 30 {
		t.Errorf("with locking all on one instance, %d of 30 updates survived", got)
	}
}

// TestLockingNoneMayLoseUpdates: without locking, two requests of one
// session may read the same count and both write count+1, so increments
// of the application's read-modify-write can be lost. What must never be
// lost is an acknowledged write: the versioned writes refuse (503) a save
// built on a state that another instance replaced meanwhile. So no count
// is acknowledged by both instances (one of the two saves was built on the
// state the other replaced), and the final count is at least the highest
// one acknowledged. (Two requests on one instance share the session, so
// one instance may acknowledge the same count twice: one write. Each
// request also writes its own tag, so two instances never save identical
// bytes, which the versioned write would take for a retry of its own. A
// 503 promises nothing either way: its write may have reached one copy.)
func TestLockingNoneMayLoseUpdates(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	b := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	r := concurrentRMWAcks(t, []*instance{a, b}, 4, 15, false)
	t.Logf("without locking, %d of 60 concurrent updates survived, %d acknowledged", r.final, r.acked)
	if r.acked == 0 {
		t.Fatal("no request of 60 was acknowledged")
	}
	highest := 0
	for count, by := range r.ackedBy {
		highest = max(highest, count)
		if len(by) > 1 {
			t.Errorf("count %d acknowledged by both instances: one of them saved over a state the other had replaced", count)
		}
	}
	if r.final < highest {
		t.Errorf("final count %d, highest acknowledged %d: an acknowledged write was lost", r.final, highest)
	}
}

func TestConcurrentRequestsOnOneInstanceShareTheSession(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockNone), nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	var wg sync.WaitGroup
	for _, kv := range []string{"a=1", "b=2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, v, _ := stringsCut(kv, "=")
			rawGet(t, a, "/slowset?k="+k+"&v="+v, core.DefaultCookieName+"="+sid)
		}()
		time.Sleep(20 * time.Millisecond) // the second starts while the first runs
	}
	wg.Wait()
	for k, want := range map[string]string{"a": "1", "b": "2", "name": "ann"} {
		if got, _ := br.get(a, "/get?k="+k); got != want {
			t.Errorf("%s = %q, want %q: concurrent requests lost each other's writes", k, got, want)
		}
	}
}

func TestStaleLockFreesItselfAfterLockExpiry(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockAll)
	cfg.LockExpiry = 2 * time.Second
	a := start(t, cfg, nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	// A crashed holder's lock, as the test's own add.
	lockKey := lockKeyOf(br.sid())
	node := mcs[0]
	if nodeOfID(br.sid()) == "n2" {
		node = mcs[1]
	}
	if err := mcClient(node).Add(&memcache.Item{Key: lockKey, Value: []byte("crashed"), Expiration: 2}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if got, _ := br.get(a, "/count"); got != "1" {
		t.Errorf("count = %s", got)
	}
	// LockWait (a minute) is far above LockExpiry: the request got the lock
	// because the stale one expired, not because LockWait ran out.
	t.Logf("request behind a stale lock with LockExpiry 2s took %v", time.Since(t0))
	if st := a.m.Stats(); st.LockWaits == 0 || st.LockTimeouts != 0 {
		t.Errorf("LockWaits = %d, LockTimeouts = %d; want > 0 and 0", st.LockWaits, st.LockTimeouts)
	}
}

func TestLockTimeoutProceedsOrRejects(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	for _, reject := range []bool{false, true} {
		cfg := nsConfig(mcs, core.LockAll)
		cfg.LockWait = 300 * time.Millisecond
		cfg.ProceedOnLockTimeout = !reject
		a := start(t, cfg, nsRoutes())
		br := newBrowser(t)
		br.get(a, "/set?name=ann")
		node := mcs[0]
		if nodeOfID(br.sid()) == "n2" {
			node = mcs[1]
		}
		mcClient(node).Set(&memcache.Item{Key: lockKeyOf(br.sid()), Value: []byte("other"), Expiration: 60})
		body, resp := br.get(a, "/count")
		want := 200
		if reject {
			want = 503
		}
		if resp.StatusCode != want {
			t.Errorf("reject=%v: status %d (%s), want %d", reject, resp.StatusCode, body, want)
		}
		if st := a.m.Stats(); st.LockTimeouts != 1 {
			t.Errorf("reject=%v: LockTimeouts = %d, want 1", reject, st.LockTimeouts)
		}
		// The other holder's lock is not ours: it must still be there.
		if it, err := mcClient(node).Get(lockKeyOf(br.sid())); err != nil || string(it.Value) != "other" {
			t.Errorf("reject=%v: another holder's lock was released (%v)", reject, err)
		}
	}
}

func TestAutoLockingLearnsReadOnlyPaths(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, core.LockAuto), nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	total := func() msmtest.Counters {
		c0, c1 := mcs[0].Counters(), mcs[1].Counters()
		c0.Set += c1.Set
		c0.CAS += c1.CAS
		return c0
	}
	before := total()
	for range 5 { // learning: these lock (add + gets + cas each)
		br.get(a, "/maybe")
	}
	if d := total().Sub(before); d.Set < 5 {
		t.Fatalf("learning requests took %d locks, want 5", d.Set)
	}
	before = total()
	for range 5 {
		br.get(a, "/maybe")
	}
	if d := total().Sub(before); d.Set != 0 || d.CAS != 0 {
		t.Errorf("learned read-only path still locks: %d storage commands, %d cas", d.Set, d.CAS)
	}
	// A write on the learned path is saved and unlearns it.
	br.get(a, "/maybe?w=1")
	b := start(t, nsConfig(mcs, core.LockAuto), nsRoutes())
	if got, _ := br.get(b, "/get?k=w"); got == "<none>" {
		t.Error("write on a learned path was not saved")
	}
	before = total()
	br.get(a, "/maybe")
	if d := total().Sub(before); d.CAS == 0 {
		t.Error("path not unlearned after a write: no lock taken")
	}
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
	// Each read is one round trip to each node, in parallel: a gat of the
	// primary, and one get of the two keys the other node may hold (the
	// backup copy, the session moved there). No writes.
	d0, d1 := mcs[0].Counters().Sub(b0), mcs[1].Counters().Sub(b1)
	if d0.Set+d1.Set+d0.Delete+d1.Delete != 0 || d0.Touch+d1.Touch != 10 || d0.Get+d1.Get != 20 {
		t.Errorf("10 read-only requests cost %+v, %+v; want 10 gat and 10 two-key gets, no writes", d0, d1)
	}
}

// lockKeyOf is the key of the lock item of the session with this id: it
// names the session by its base alone, the same before and after a move.
func lockKeyOf(id string) string { return "lock:" + id[:32] }

func stringsCut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}
