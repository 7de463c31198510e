package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Tests of non-sticky locking (nslock.go): which requests lock, what a
// lock serialises, what happens without one, and locks that outlive or
// never reach their holder.

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
	for range 5 { // learning: these lock (add, then delete each)
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
	if d := total().Sub(before); d.Set == 0 {
		t.Error("path not unlearned after a write: no lock taken")
	}
}

// lockKeyOf is the key of the lock item of the session with this id: it
// names the session by its base alone, the same before and after a move.
func lockKeyOf(id string) string { return "lock:" + id[:32] }

// TestLockIsSharedWhenThePrimaryIsDown: with the session's node dead, two
// instances still agree on one lock (it is also taken on the backup node),
// and a lock the node cannot hold is a 503 by default, not a free pass.
func TestLockIsSharedWhenThePrimaryIsDown(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	cfg := durableConfig(mcs, core.LockAll)
	cfg.LockWait = 500 * time.Millisecond
	a := start(t, cfg, nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	primary, other := primaryAndOther(mcs, br.sid())
	primary.Kill()
	// Another instance holds the session's lock on the node that is left.
	if err := mcClient(other).Add(&memcache.Item{Key: lockKeyOf(br.sid()), Value: []byte("other"), Expiration: 60}); err != nil {
		t.Fatal(err)
	}
	if body, resp := br.get(a, "/count"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("lock held elsewhere, primary dead: status %d %q, want 503", resp.StatusCode, body)
	}
	mcClient(other).Delete(lockKeyOf(br.sid()))
	if got, resp := br.get(a, "/count"); resp.StatusCode != 200 || got != "1" {
		t.Errorf("lock free again: status %d %q, want 200 1", resp.StatusCode, got)
	}
	other.Kill()
	if _, resp := br.get(a, "/count"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("no node can hold the lock: status %d, want 503", resp.StatusCode)
	}
}

// TestLockWaitEndsWhenTheClientLeaves: a request waiting for a lock gives
// up when its client disconnects; its handler never runs.
func TestLockWaitEndsWhenTheClientLeaves(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	cfg := durableConfig(mcs, core.LockAll)
	cfg.LockWait = 10 * time.Minute
	var ran atomic.Int32
	rt := nsRoutes()
	rt["/touch"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		s.Set("x", 1)
	}
	a := start(t, cfg, rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	primary, _ := primaryAndOther(mcs, br.sid())
	if err := mcClient(primary).Add(&memcache.Item{Key: lockKeyOf(br.sid()), Value: []byte("other"), Expiration: 600}); err != nil {
		t.Fatal(err)
	}
	before := primary.Counters().Set
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/touch", nil)
	req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: br.sid()})
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	// Several lock attempts were refused: the request is waiting.
	waitFor(t, 30*time.Second, "the request to wait for the lock", func() bool { return primary.Counters().Set-before >= 3 })
	cancel()
	<-errc
	waitFor(t, 60*time.Second, "the waiting request to give up", func() bool { return a.m.Stats().LockTimeouts == 1 })
	if ran.Load() != 0 {
		t.Error("the handler ran after its client had gone")
	}
}

// TestUnknownIDCostsNoLockWrite: a well-formed id memcached does not have
// is looked up before any lock is written for it, and remembered for a
// moment: a flood of it costs reads, never writes.
func TestUnknownIDCostsNoLockWrite(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	a := start(t, durableConfig(mcs, core.LockAll), nsRoutes())
	unknown := "0123456789abcdef0123456789abcdef-n1"
	before := []msmtest.Counters{mcs[0].Counters(), mcs[1].Counters()}
	for range 20 {
		rawGet(t, a, "/get?k=name", core.DefaultCookieName+"="+unknown)
	}
	var sets, gets uint64
	for i, mc := range mcs {
		d := mc.Counters().Sub(before[i])
		sets += d.Set
		gets += d.Get + d.Touch
	}
	if sets != 0 {
		t.Errorf("20 requests with an unknown id wrote %d times to memcached, want 0", sets)
	}
	// One look-up reads each node once; the negative cache holds for about
	// a second, and 20 requests on a slow machine may straddle a few.
	if gets == 0 || gets > 30 {
		t.Errorf("20 requests with an unknown id cost %d reads, want a few (one per node per second)", gets)
	}
}

// A lock held briefly is released with one delete per node: nobody else
// can have added the key while it surely lives (LockExpiry less two
// seconds, here about a minute, far longer than any request).
func TestShortHeldLockIsReleasedByOneDelete(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockAll)
	cfg.LockExpiry = time.Minute
	a := start(t, cfg, nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	c0, c1 := mcs[0].Counters(), mcs[1].Counters()
	if _, resp := br.get(a, "/get?k=name"); resp.StatusCode != 200 {
		t.Fatalf("locked read: status %d", resp.StatusCode)
	}
	d0, d1 := mcs[0].Counters().Sub(c0), mcs[1].Counters().Sub(c1)
	if d0.Delete+d1.Delete != 2 || d0.CAS+d1.CAS != 0 {
		t.Errorf("release of a short lock: %d deletes, %d cas; want one delete on each node, no cas", d0.Delete+d1.Delete, d0.CAS+d1.CAS)
	}
	for i, mc := range mcs {
		if _, err := mcClient(mc).Get(lockKeyOf(br.sid())); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Errorf("node %d: lock item still there after the request (%v)", i+1, err)
		}
	}
}

// A lock that may have expired while held (its expiry is too short for
// the plain delete: 2 s) is released only if it is still ours: here
// another holder's lock replaced it during the request, and survives.
func TestLongHeldLockIsReleasedOnlyIfStillOurs(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockAll)
	cfg.LockExpiry = 2 * time.Second
	rt := nsRoutes()
	rt["/taken"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("n", 1)
		for _, mc := range mcs { // as if ours expired and another request took it
			mcClient(mc).Set(&memcache.Item{Key: lockKeyOf(s.ID()), Value: []byte("other"), Expiration: 60})
		}
	}
	a := start(t, cfg, rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	br.get(a, "/taken")
	for i, mc := range mcs {
		if it, err := mcClient(mc).Get(lockKeyOf(br.sid())); err != nil || string(it.Value) != "other" {
			t.Errorf("node %d: another holder's lock was released (%v)", i+1, err)
		}
	}
}
