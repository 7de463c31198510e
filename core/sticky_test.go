package core_test

import (
	"fmt"
	"log/slog"
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

// shop is the handler set most tests share.
func shop() routes {
	return routes{
		"/set": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			for k, v := range r.URL.Query() {
				s.Set(k, v[0])
			}
			fmt.Fprint(w, "ok")
		},
		"/get": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			v, ok := s.Get(r.URL.Query().Get("k"))
			if !ok {
				fmt.Fprint(w, "<none>")
				return
			}
			fmt.Fprint(w, v)
		},
		"/nothing": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "hello")
		},
		"/cart/add": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			cart, err := core.GetAs[Cart](s, "cart")
			if err != nil && s.IsNew() == false && s.ID() != "" && !strings.Contains(err.Error(), "no such") {
				http.Error(w, err.Error(), 500)
				return
			}
			cart.Items = append(cart.Items, r.URL.Query().Get("item"))
			cart.Total += len(r.URL.Query().Get("item"))
			cart.Owner.Name = "ann"
			s.Set("cart", cart)
			fmt.Fprint(w, len(cart.Items))
		},
		"/cart": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			cart, err := core.GetAs[Cart](s, "cart")
			if err != nil {
				http.Error(w, err.Error(), 404)
				return
			}
			fmt.Fprintf(w, "%s|%d|%s", strings.Join(cart.Items, ","), cart.Total, cart.Owner.Name)
		},
		"/count": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			n := s.GetInt("n") + 1
			s.Set("n", n)
			fmt.Fprint(w, n)
		},
	}
}

func TestInstanceFailoverReadsEveryAttribute(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, shop())
	b := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, shop())
	br := newBrowser(t)
	br.get(a, "/set?name=ann&city=oslo")
	br.get(a, "/cart/add?item=apple")
	br.get(a, "/cart/add?item=pear")

	if got, _ := br.get(b, "/get?k=name"); got != "ann" {
		t.Errorf("name on instance B = %q, want ann", got)
	}
	if got, _ := br.get(b, "/get?k=city"); got != "oslo" {
		t.Errorf("city on instance B = %q, want oslo", got)
	}
	if got, _ := br.get(b, "/cart"); got != "apple,pear|9|ann" {
		t.Errorf("cart on instance B = %q, want apple,pear|9|ann", got)
	}
	if st := b.m.Stats(); st.SessionsLoaded != 1 {
		t.Errorf("B loaded %d sessions from memcached, want 1", st.SessionsLoaded)
	}
}

func TestReadOnlyRequestsCostNoMemcachedTraffic(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, shop())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")

	before := mc.Counters()
	for range 20 {
		if got, _ := br.get(a, "/get?k=name"); got != "ann" {
			t.Fatalf("read %q, want ann", got)
		}
	}
	d := mc.Counters().Sub(before)
	if d.Get != 0 || d.Set != 0 || d.Touch != 0 {
		t.Errorf("20 read-only requests cost get=%d set=%d touch=%d, want 0 0 0", d.Get, d.Set, d.Touch)
	}

	before = mc.Counters()
	br.get(a, "/set?name=bob")
	d = mc.Counters().Sub(before)
	// A versioned write: gets (the stored version), then cas.
	if d.Set != 1 || d.Get != 1 || d.CAS != 1 {
		t.Errorf("one modifying request cost set=%d get=%d cas=%d, want 1, 1 and 1", d.Set, d.Get, d.CAS)
	}
}

func TestInPlaceChangeIsBackedUpAndEqualSetIsNot(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	rt := shop()
	rt["/tags/init"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("tags", map[string]any{"a": 1})
	}
	rt["/tags/mutate"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		v, _ := s.Get("tags")
		v.(map[string]any)["b"] = 2 // changed in place, no Set
	}
	rt["/tags/read"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		v, _ := s.Get("tags") // a mutable value read but not changed
		fmt.Fprint(w, len(v.(map[string]any)))
	}
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, rt)
	b := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, rt)
	br := newBrowser(t)
	br.get(a, "/tags/init")
	br.get(a, "/set?name=ann")

	before := mc.Counters()
	br.get(a, "/tags/mutate")
	if d := mc.Counters().Sub(before); d.Set != 1 {
		t.Fatalf("in-place change cost %d sets, want 1", d.Set)
	}
	if got, _ := br.get(b, "/tags/read"); got != "2" {
		t.Errorf("instance B sees %s tags, want 2", got)
	}

	before = mc.Counters()
	br.get(a, "/tags/read")
	br.get(a, "/set?name=ann") // equal value set again
	if d := mc.Counters().Sub(before); d.Set != 0 {
		t.Errorf("reading a map and re-setting an equal value cost %d sets, want 0", d.Set)
	}
	if st := a.m.Stats(); st.BackupsUnchanged < 2 {
		t.Errorf("BackupsUnchanged = %d, want >= 2", st.BackupsUnchanged)
	}
}

func TestUnwrittenNewSessionSendsNothing(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc)}, shop())
	br := newBrowser(t)
	before := mc.Counters()
	_, resp := br.get(a, "/get?k=name")
	_, resp2 := br.get(a, "/nothing")
	for _, r := range []*http.Response{resp, resp2} {
		if sc := r.Header.Get("Set-Cookie"); sc != "" {
			t.Errorf("unwritten session sent Set-Cookie %q", sc)
		}
	}
	a.m.Close()
	d := mc.Counters().Sub(before)
	if d != (msmtest.Counters{}) {
		t.Errorf("unwritten session caused memcached traffic: %+v", d)
	}
	if st := a.m.Stats(); st.SessionsCreated != 0 {
		t.Errorf("SessionsCreated = %d, want 0", st.SessionsCreated)
	}
}

func TestIdleSessionExpiresLocallyAndInMemcached(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	// MaxInactive leaves a slow machine seconds to look the session up
	// before it expires.
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxInactive: 5 * time.Second}
	a := start(t, cfg, shop())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	key := keyOf(br.sid())
	direct := mcClient(mc)
	if _, err := direct.Get(key); err != nil {
		t.Fatalf("session not in memcached after creation: %v", err)
	}
	waitFor(t, effectWait, "local expiry", func() bool { return a.m.Stats().LocalSessions == 0 })
	waitFor(t, effectWait, "memcached expiry", func() bool {
		_, err := direct.Get(key)
		return err == memcache.ErrCacheMiss
	})
	if got, _ := br.get(a, "/get?k=name"); got != "<none>" {
		t.Errorf("expired session still answers %q", got)
	}
	if st := a.m.Stats(); st.SessionsExpired != 1 {
		t.Errorf("SessionsExpired = %d, want 1", st.SessionsExpired)
	}
}

func TestReadSessionStaysAliveInMemcachedByTouch(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	// MaxInactive 8s with a read every second leaves seven seconds of slack
	// for a slow machine between reads.
	const maxInactive = 8 * time.Second
	cfg := core.Config{Nodes: nodesOf(mc), MaxInactive: maxInactive}
	a := start(t, cfg, shop())
	br := newBrowser(t)
	sent := time.Now() // the server used the session after this
	br.get(a, "/set?name=ann")
	waitFor(t, effectWait, "first backup", func() bool { return a.m.Stats().BackupsOK == 1 })
	before := mc.Counters()
	t0 := time.Now()
	for time.Since(t0) < 2*maxInactive+time.Second { // one read a second, over twice MaxInactive
		time.Sleep(time.Second)
		prev := sent
		sent = time.Now()
		got, _ := br.get(a, "/get?k=name")
		if got != "ann" {
			// The server saw the two requests at most this far apart. A
			// machine that stalls about MaxInactive between them lets the
			// session expire as it should: then the test has no verdict
			// (memcached counts its TTL in whole seconds, hence the second).
			if gap := time.Since(prev); gap > maxInactive-time.Second {
				t.Skipf("the machine stalled: up to %v between two reads, about MaxInactive (%v): no verdict", gap, maxInactive)
			}
			t.Fatalf("read %q, want ann", got)
		}
	}
	waitFor(t, effectWait, "touches", func() bool { return mc.Counters().Sub(before).Touch >= 2 })
	d := mc.Counters().Sub(before)
	if d.Set != 0 {
		t.Errorf("reads re-sent the session %d times, want 0 (touch only)", d.Set)
	}
	if _, err := mcClient(mc).Get(keyOf(br.sid())); err != nil {
		t.Errorf("session gone from memcached although read every second: %v", err)
	}
}

func TestHostileCookiesAreNoSession(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc)}, shop())
	valid := strings.Repeat("a", 32)
	hostile := []string{
		"x",
		strings.Repeat("a", 31),
		strings.Repeat("A", 32) + "-n1",       // upper-case hex
		valid + "-n1\r\nflush_all",            // protocol injection (sent raw)
		valid + "-n1 flush_all",               // space
		valid + "-n9",                         // unknown node
		valid + "-",                           // empty node
		valid + "-n1.",                        // empty route
		valid + "-n1.r.s",                     // two routes
		valid + "-" + strings.Repeat("n", 40), // node id too long
		strings.Repeat("0", 10000),            // 10 KB
		valid + "-ñ1",                         // unicode
		"../../etc/passwd",
	}
	before := mc.Counters()
	for _, v := range hostile {
		resp := rawGet(t, a, "/get?k=name", core.DefaultCookieName+"="+v)
		// The HTTP server itself may refuse a header with a bare CR/LF
		// (400); what must never happen is a 5xx.
		if resp.StatusCode >= 500 {
			t.Errorf("cookie %.40q: status %d", v, resp.StatusCode)
		}
	}
	if d := mc.Counters().Sub(before); d != (msmtest.Counters{}) {
		t.Errorf("hostile cookies reached memcached: %+v", d)
	}
	// Every value but the ones the HTTP client or server drop before us
	// must be counted as invalid.
	if st := a.m.Stats(); st.InvalidIDs < uint64(len(hostile)-3) {
		t.Errorf("InvalidIDs = %d, want >= %d", st.InvalidIDs, len(hostile)-3)
	}
}

func TestRapidAsyncModificationsEndWithFinalState(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc)}, shop())
	br := newBrowser(t)
	for i := 1; i <= 200; i++ {
		if got, _ := br.get(a, "/count"); got != strconv.Itoa(i) {
			t.Fatalf("count %s, want %d", got, i)
		}
	}
	if err := a.m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b := start(t, core.Config{Nodes: nodesOf(mc)}, shop())
	if got, _ := br.get(b, "/get?k=n"); got != "200" {
		t.Errorf("memcached holds n=%s after Close, want 200", got)
	}
}

func TestOversizedSessionKeepsOldBackupAndWorksLocally(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	logs := &logBuffer{}
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	rt := shop()
	rt["/big"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("blob", strings.Repeat("x", 2<<20)) // 2 MB: over memcached's 1 MB item limit
	}
	a := start(t, cfg, rt)
	b := start(t, core.Config{Nodes: nodesOf(mc)}, rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	br.get(a, "/big")
	if st := a.m.Stats(); st.BackupsTooLarge != 1 {
		t.Errorf("BackupsTooLarge = %d, want 1", st.BackupsTooLarge)
	}
	if !strings.Contains(logs.String(), "session too large") || !strings.Contains(logs.String(), "size=") {
		t.Errorf("no clear log line with the size; log:\n%s", logs)
	}
	if got, _ := br.get(a, "/get?k=blob"); len(got) != 2<<20 {
		t.Errorf("oversized attribute locally has %d bytes, want %d", len(got), 2<<20)
	}
	if got, _ := br.get(b, "/get?k=name"); got != "ann" {
		t.Errorf("last good backup lost: instance B reads name=%q", got)
	}
}

func TestCorruptBytesInMemcachedAreNoSession(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc)}, shop())
	id := strings.Repeat("ab", 16) + "-n1"
	direct := mcClient(mc)
	for i, garbage := range [][]byte{[]byte("not a session"), {0xff, 0x00, 0x13}, []byte("MSM\x01\xff\xff")} {
		if err := direct.Set(&memcache.Item{Key: id, Value: garbage}); err != nil {
			t.Fatal(err)
		}
		resp := rawGet(t, a, "/get?k=name", core.DefaultCookieName+"="+id)
		if resp.StatusCode != 200 {
			t.Errorf("corrupt value %d: status %d", i, resp.StatusCode)
		}
		time.Sleep(1100 * time.Millisecond) // past the negative cache
	}
	if st := a.m.Stats(); st.SessionsCorrupt != 3 {
		t.Errorf("SessionsCorrupt = %d, want 3", st.SessionsCorrupt)
	}
}

func TestUnknownIDsHitMemcachedOncePerSecond(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc)}, shop())
	id := strings.Repeat("cd", 16) + "-n1"
	before := mc.Counters()
	t0 := time.Now()
	for range 50 {
		rawGet(t, a, "/get?k=name", core.DefaultCookieName+"="+id)
	}
	// One load per started second: on a slow machine the 50 requests may
	// span more than the negative cache's second.
	limit := 1 + uint64(time.Since(t0)/time.Second)
	if d := mc.Counters().Sub(before); d.Touch < 1 || d.Touch > limit {
		t.Errorf("50 requests for one unknown id in %v cost %d loads, want 1 to %d", time.Since(t0), d.Touch, limit)
	}
}

func TestConcurrentFirstRequestsLoadOnce(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, shop())
	slow := shop()
	b := start(t, core.Config{Nodes: nodesOf(mc)}, slow)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sid := br.sid()
	before := mc.Counters()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rawGet(t, b, "/get?k=name", core.DefaultCookieName+"="+sid)
		}()
	}
	wg.Wait()
	// singleflight shares one load among the requests that overlap it; the
	// rest find the session local. Either way: far fewer than 20 loads.
	if d := mc.Counters().Sub(before); d.Touch > 3 {
		t.Errorf("20 concurrent first requests cost %d loads, want ~1", d.Touch)
	}
	if st := b.m.Stats(); st.SessionsLoaded != 1 {
		t.Errorf("SessionsLoaded = %d, want 1", st.SessionsLoaded)
	}
}

// keyOf returns the memcached key of a session id (no prefix): the id
// without its route.
func keyOf(id string) string {
	if i := strings.IndexByte(id, '.'); i >= 0 {
		return id[:i]
	}
	return id
}
