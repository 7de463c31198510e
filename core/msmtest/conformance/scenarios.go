package conformance

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/gomsm/msm/core"
)

// scenarios hold in both modes.
var scenarios = []scenario{
	{name: "Accessor", run: testAccessor},
	{name: "CreateOnWriteOnly", run: testCreateOnWriteOnly},
	{name: "Read", run: testRead},
	{name: "Modify", run: testModify},
	{name: "InPlaceChange", run: testInPlaceChange},
	{name: "RenewID", run: testRenewID},
	{name: "Invalidate", run: testInvalidate},
	{name: "WriteBodyFirst", run: testWriteBodyFirst},
	{name: "StreamFlush", run: testStreamFlush},
	{name: "Panic", run: testPanic},
	{name: "IgnoredPath", run: testIgnoredPath},
	{name: "InstanceFailover", nodes: 2, run: testInstanceFailover},
	{name: "Flashes", nodes: 2, run: testFlashes},
	{name: "Persist", nodes: 2, run: testPersist},
	{name: "InvalidatePrincipal", nodes: 2, run: testInvalidatePrincipal},
}

// stickyScenarios run with the default configuration (sticky mode) and
// synchronous backups.
var stickyScenarios = scenarios

// nonStickyScenarios run with Config.NonSticky set.
var nonStickyScenarios = slices.Concat(scenarios, []scenario{
	{name: "LockAllLosesNoUpdate", nodes: 2, run: testLockAllLosesNoUpdate},
	{name: "PanicReleasesLock", run: testPanicReleasesLock},
})

// lockAll is the start option of the locking scenarios. The lock times
// are long, so that on a busy machine a queue of locked requests never
// runs out of LockWait and a slow holder never outlives its lock.
func lockAll(c *core.Config) {
	c.LockingMode = core.LockAll
	c.LockWait = time.Minute
	c.LockExpiry = 30 * time.Second
}

// testLockAllLosesNoUpdate: with LockingMode all, concurrent
// read-modify-write requests of one session, spread over two instances of
// the framework, are serialised: none of their updates is lost.
func testLockAllLosesNoUpdate(t *testing.T, e *env) {
	a, a2 := e.start(lockAll), e.start(lockAll)
	b := e.browser()
	b.expect(a, "/set?k=v", "ok")
	cookie := &http.Cookie{Name: core.DefaultCookieName, Value: b.sid()}
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst := []*instance{a, a2}[i%2]
			req, _ := http.NewRequest(http.MethodGet, inst.srv.URL+"/slowinc", nil)
			req.AddCookie(cookie)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("GET /slowinc: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	b.expect(a2, "/get?k=n", fmt.Sprint(n))
}

// testPanicReleasesLock: a handler that panics while holding the session's
// lock leaves no lock behind in memcached.
func testPanicReleasesLock(t *testing.T, e *env) {
	a := e.start(lockAll)
	b := e.browser()
	b.expect(a, "/set?k=before", "ok")
	key, _, _ := strings.Cut(b.sid(), ".")
	if _, resp := b.get(a, "/panic"); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status after a panic = %d, want 500", resp.StatusCode)
	}
	for _, mc := range e.mcs {
		c := memcache.New(mc.Addr())
		c.Timeout = 10 * time.Second // the default 500 ms is short for a busy machine
		if _, err := c.Get("lock:" + key); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Errorf("lock item after a panicking request on %s: %v (want none)", mc.Addr(), err)
		}
	}
	b.expect(a, "/get?k=k", "before")
}

// testAccessor: the adapter's accessor returns the session that core put in
// the context of the request the handler is given.
func testAccessor(t *testing.T, e *env) {
	a := e.start(nil)
	b := e.browser()
	b.expect(a, "/same", "same")
	b.expect(a, "/set?k=v", "ok")
	b.expect(a, "/same", "same")
}

// testCreateOnWriteOnly: a first visit that only reads sends no cookie and
// costs no memcached command; the first write creates the session, sends
// the cookie and backs it up.
func testCreateOnWriteOnly(t *testing.T, e *env) {
	a := e.start(nil)
	b := e.browser()
	before := e.counters()
	resp := b.expect(a, "/get?k=k", none)
	if c := sessionCookie(resp); c != nil {
		t.Errorf("a first visit that only reads set a cookie: %v", c)
	}
	b.expect(a, "/same", "same")
	e.noTraffic("a first visit that only reads", before)

	before = e.counters()
	resp = b.expect(a, "/set?k=v", "ok")
	c := sessionCookie(resp)
	if c == nil || c.Value == "" {
		t.Fatalf("the first write set no session cookie (Set-Cookie: %q)", resp.Header.Values("Set-Cookie"))
	}
	if !c.HttpOnly {
		t.Errorf("the session cookie is not HttpOnly: %v", c)
	}
	if d := e.traffic(before); d.Set != 1 {
		t.Errorf("the first write sent %d sets to memcached, want 1", d.Set)
	}
	if v, ok := e.stored(c.Value, "k"); v != "v" {
		t.Errorf("memcached holds k = %q (session stored: %v), want %q", v, ok, "v")
	}
}

// testRead: a session is read back with no new cookie and no write to
// memcached; in sticky mode from local memory, with no memcached command.
func testRead(t *testing.T, e *env) {
	a := e.start(nil)
	b := e.browser()
	b.expect(a, "/set?k=v&other=w", "ok")
	before := e.counters()
	resp := b.expect(a, "/get?k=k", "v")
	b.expect(a, "/get?k=other", "w")
	b.expect(a, "/get?k=missing", none)
	if c := sessionCookie(resp); c != nil {
		t.Errorf("a read of an existing session sent its cookie again: %v", c)
	}
	if !e.nonSticky {
		e.noTraffic("reading a local session", before)
	} else if d := e.traffic(before); d.Set != 0 || d.Delete != 0 {
		t.Errorf("reads sent %d sets and %d deletes, want none", d.Set, d.Delete)
	}
}

// testModify: a changed attribute is backed up once and seen by another
// instance; setting an equal value is no change.
func testModify(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	b.expect(a, "/set?k=1", "ok")
	before := e.counters()
	b.expect(a, "/set?k=2", "ok")
	if d := e.traffic(before); d.Set != 1 {
		t.Errorf("a change sent %d sets, want 1", d.Set)
	}
	before = e.counters()
	b.expect(a, "/set?k=2", "ok")
	if d := e.traffic(before); d.Set != 0 {
		t.Errorf("setting an equal value sent %d sets, want 0", d.Set)
	}
	b.expect(a, "/get?k=k", "2")
	if v, _ := e.stored(b.sid(), "k"); v != "2" {
		t.Errorf("memcached holds k = %q, want 2", v)
	}
	b.expect(a2, "/get?k=k", "2")
}

// testInPlaceChange: a map read with Get and changed in place, with no Set,
// is backed up; read and left alone, it is not.
func testInPlaceChange(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	b.expect(a, "/map/put", "ok")
	before := e.counters()
	b.expect(a, "/map/read", "map[n:1]")
	if d := e.traffic(before); d.Set != 0 {
		t.Errorf("a Get that changed nothing sent %d sets, want 0", d.Set)
	}
	before = e.counters()
	b.expect(a, "/map/inc", "2")
	if d := e.traffic(before); d.Set != 1 {
		t.Errorf("an in-place change sent %d sets, want 1", d.Set)
	}
	b.expect(a2, "/map/get", "2")
}

// testRenewID: RenewID sends a new id that keeps the data, here and on
// another instance; the old id is gone from memcached and finds nothing.
func testRenewID(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	b.expect(a, "/set?user=ann", "ok")
	old := b.sid()
	resp := b.expect(a, "/login", "ok")
	if c := sessionCookie(resp); c == nil {
		t.Fatalf("RenewID sent no cookie")
	}
	renewed := b.sid()
	if renewed == "" || renewed == old {
		t.Fatalf("id after RenewID = %q, before %q: want a new one", renewed, old)
	}
	b.expect(a, "/get?k=user", "ann")
	if _, ok := e.stored(old, "user"); ok {
		t.Errorf("the old id is still in memcached after RenewID")
	}
	if v, _ := e.stored(renewed, "user"); v != "ann" {
		t.Errorf("memcached holds user = %q under the new id, want ann", v)
	}
	b.expect(a2, "/get?k=user", "ann")

	thief := e.browser()
	thief.setSID(old)
	thief.expect(a, "/get?k=user", none)
	thief.expect(a2, "/get?k=user", none)
}

// testInvalidate: Invalidate expires the cookie and deletes the session,
// here, in memcached and so for every other instance.
func testInvalidate(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	b.expect(a, "/set?user=ann", "ok")
	id := b.sid()
	resp := b.expect(a, "/logout", "ok")
	if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
		t.Errorf("Invalidate did not expire the cookie: %v", c)
	}
	if b.sid() != "" {
		t.Errorf("the browser still holds a session cookie after Invalidate")
	}
	if _, ok := e.stored(id, "user"); ok {
		t.Errorf("the session is still in memcached after Invalidate")
	}
	thief := e.browser()
	thief.setSID(id)
	thief.expect(a2, "/get?k=user", none)
	thief.expect(a, "/get?k=user", none)
	b.expect(a, "/get?k=user", none)
}

// testWriteBodyFirst: the cookie goes out with a body written before any
// WriteHeader, and with a status set before the body.
func testWriteBodyFirst(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	resp := b.expect(a, "/write-first", "body")
	if sessionCookie(resp) == nil {
		t.Errorf("no session cookie with a body written before WriteHeader")
	}
	b.expect(a2, "/get?k=k", "written")

	b2 := e.browser()
	resp = b2.expect(a, "/header-first", "body")
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d, want 201", resp.StatusCode)
	}
	if sessionCookie(resp) == nil {
		t.Errorf("no session cookie with WriteHeader(201) before the body")
	}
	b2.expect(a2, "/get?k=k", "created")
}

// testStreamFlush: a handler that flushes sends the cookie with the headers
// and its chunks as they come; the session is saved at the end.
func testStreamFlush(t *testing.T, e *env) {
	e.release = make(chan struct{})
	a := e.start(nil)
	b := e.browser()
	resp := b.open(a, "/stream")
	defer resp.Body.Close()
	if sessionCookie(resp) == nil {
		t.Errorf("no session cookie in the headers of a streamed response")
	}
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	close(e.release)
	if err != nil || first != "chunk 1\n" {
		t.Fatalf("first chunk = %q, %v; want %q", first, err, "chunk 1\n")
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "chunk 2\n" {
		t.Errorf("after the first chunk came %q, want %q", rest, "chunk 2\n")
	}
	b.expect(a, "/get?k=k", "streamed")
}

// testPanic: a handler that panics after changing its session leaves
// memcached as it was, sends no cookie, and the next request, on this
// instance or another, sees the last saved state.
func testPanic(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	b.expect(a, "/set?k=before", "ok")
	id := b.sid()
	before := e.counters()
	_, resp := b.get(a, "/panic")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status after a panic = %d, want 500", resp.StatusCode)
	}
	if c := sessionCookie(resp); c != nil {
		t.Errorf("a panicking request sent a session cookie: %v", c)
	}
	if d := e.traffic(before); d.Set != 0 {
		t.Errorf("a panicking request sent %d sets, want 0", d.Set)
	}
	if v, _ := e.stored(id, "k"); v != "before" {
		t.Errorf("memcached holds k = %q after the panic, want %q", v, "before")
	}
	b.expect(a, "/get?k=k", "before")
	b.expect(a2, "/get?k=k", "before")

	// A session created by the panicking request leaves nothing behind.
	fresh := e.browser()
	before = e.counters()
	_, resp = fresh.get(a, "/panic")
	if c := sessionCookie(resp); c != nil {
		t.Errorf("a panicking request that created its session sent a cookie: %v", c)
	}
	if d := e.traffic(before); d.Set != 0 {
		t.Errorf("a panicking request that created its session sent %d sets, want 0", d.Set)
	}
}

// testIgnoredPath: on a path that matches IgnorePattern the handler still
// gets a session, but it is inert: reads find nothing, writes are
// dropped, nothing is loaded, created, saved or sent, and the client's
// real session is left as it was.
func testIgnoredPath(t *testing.T, e *env) {
	a := e.start(func(c *core.Config) { c.IgnorePattern = ignorePattern })
	const inert = `<nil> false ""`
	b := e.browser()
	b.expect(a, "/set?k=v", "ok")
	id := b.sid()
	before := e.counters()
	if c := sessionCookie(b.expect(a, "/static/file", inert)); c != nil {
		t.Errorf("a request on an ignored path sent a cookie: %v", c)
	}
	e.noTraffic("a request on an ignored path", before)
	if v, _ := e.stored(id, "k"); v != "v" {
		t.Errorf("memcached holds k = %q after a request on an ignored path, want v", v)
	}
	b.expect(a, "/get?k=k", "v")

	fresh := e.browser()
	before = e.counters()
	if c := sessionCookie(fresh.expect(a, "/static/file", inert)); c != nil {
		t.Errorf("a first visit on an ignored path sent a cookie: %v", c)
	}
	e.noTraffic("a first visit on an ignored path", before)
}

// testInstanceFailover: instance A serves a session and dies; instance B,
// another server of the same framework on the same nodes, takes it over
// with its struct attribute intact.
func testInstanceFailover(t *testing.T, e *env) {
	a, b2 := e.start(nil), e.start(nil)
	b := e.browser()
	b.expect(a, "/cart/add?item=apple", "1")
	b.expect(a, "/cart/add?item=pear", "2")
	a.stop()
	b.expect(b2, "/cart", "apple,pear|ann")
	b.expect(b2, "/cart/add?item=plum", "3")
	b.expect(b2, "/cart", "apple,pear,plum|ann")
}
