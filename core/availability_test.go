package core_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// availabilityRoutes are shop() plus a route that reports Session.Err.
func availabilityRoutes() routes {
	rt := shop()
	rt["/err"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		_, err := core.GetAs[string](s, "name")
		fmt.Fprint(w, errors.Is(s.Err(), core.ErrUnavailable) && errors.Is(err, core.ErrUnavailable) && errors.Is(err, core.ErrNoAttribute))
	}
	return rt
}

// stalledConfig is the configuration of the memcached stall tests: the
// node is really stopped (SIGSTOP), so a short OperationTimeout only
// shortens the test.
func stalledConfig(mc *msmtest.Server) core.Config {
	return core.Config{
		Nodes: nodesOf(mc), SyncBackup: true, BackupTimeout: 5 * time.Second,
		OperationTimeout: 300 * time.Millisecond, NodeRetryInterval: 200 * time.Millisecond,
	}
}

// checkNotLoggedOut fails when resp touches the session cookie: a stall
// must neither expire it nor hand out a new id.
func checkNotLoggedOut(t *testing.T, who string, resp *http.Response) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == core.DefaultCookieName {
			t.Errorf("%s: the stall sent Set-Cookie %q (Max-Age %d)", who, c.Value, c.MaxAge)
		}
	}
}

func TestMemcachedStallLogsNoStickyUserOutOnAnotherInstance(t *testing.T) {
	mc := msmtest.Start(t)
	a := start(t, stalledConfig(mc), availabilityRoutes())
	b := start(t, stalledConfig(mc), availabilityRoutes())
	users := make([]*browser, 10)
	ids := make([]string, len(users))
	for i := range users {
		users[i] = newBrowser(t)
		users[i].get(a, fmt.Sprintf("/set?name=user%d", i))
		ids[i] = users[i].sid()
	}

	mc.Pause()
	for i, br := range users {
		who := fmt.Sprintf("user %d", i)
		body, resp := br.get(b, "/get?k=name")
		checkNotLoggedOut(t, who+" reading", resp)
		if resp.StatusCode != 200 || body != "<none>" {
			t.Errorf("%s reading during the stall: %d %q, want 200 <none>", who, resp.StatusCode, body)
		}
		body, resp = br.get(b, "/err")
		checkNotLoggedOut(t, who+" asking Err", resp)
		if body != "true" {
			t.Errorf("%s: Err() is ErrUnavailable = %s, want true", who, body)
		}
		body, resp = br.get(b, "/set?name=intruder")
		checkNotLoggedOut(t, who+" writing", resp)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, core.ErrUnavailable.Error()) {
			t.Errorf("%s writing during the stall: %d %q, want 503 with %q", who, resp.StatusCode, body, core.ErrUnavailable)
		}
		if br.sid() != ids[i] {
			t.Fatalf("%s: cookie changed from %s to %s", who, ids[i], br.sid())
		}
	}
	if st := b.m.Stats(); st.SessionsCreated != 0 || st.SessionsUnavailable == 0 {
		t.Errorf("during the stall B created %d sessions (want 0) and counted %d unavailable (want > 0)", st.SessionsCreated, st.SessionsUnavailable)
	}
	mc.Resume()

	for i, br := range users {
		want := fmt.Sprintf("user%d", i)
		waitFor(t, 10*time.Second, want+"'s session on B after the stall", func() bool {
			body, _ := br.get(b, "/get?k=name")
			return body == want
		})
		if br.sid() != ids[i] {
			t.Errorf("user %d: cookie changed from %s to %s", i, ids[i], br.sid())
		}
	}
}

func TestMemcachedStallLogsNobodyOutWhenLocalMemoryIsBounded(t *testing.T) {
	mc := msmtest.Start(t)
	cfg := stalledConfig(mc)
	cfg.MaxLocalSessions = 5
	a := start(t, cfg, availabilityRoutes())
	users := make([]*browser, 20)
	for i := range users {
		users[i] = newBrowser(t)
		users[i].get(a, fmt.Sprintf("/set?name=user%d", i))
	}
	if st := a.m.Stats(); st.LocalSessions != 5 || st.SessionsEvicted != 15 {
		t.Fatalf("local sessions %d, evicted %d, want 5 and 15", st.LocalSessions, st.SessionsEvicted)
	}

	mc.Pause()
	unavailable := 0
	for i, br := range users {
		who := fmt.Sprintf("user %d", i)
		body, resp := br.get(a, "/get?k=name")
		checkNotLoggedOut(t, who, resp)
		switch body {
		case fmt.Sprintf("user%d", i): // still in local memory
		case "<none>":
			unavailable++
		default:
			t.Errorf("%s read %q during the stall", who, body)
		}
		_, resp = br.get(a, "/count")
		checkNotLoggedOut(t, who+" writing", resp)
	}
	if unavailable == 0 {
		t.Errorf("no evicted session was unavailable during the stall: the test proves nothing")
	}
	mc.Resume()

	for i, br := range users {
		want := fmt.Sprintf("user%d", i)
		waitFor(t, 10*time.Second, want+"'s session after the stall", func() bool {
			body, _ := br.get(a, "/get?k=name")
			return body == want
		})
	}
}

// A node that comes back empty (flushed, or restarted) gets the sticky
// sessions it should hold again, without any request to them.
func TestEmptiedNodeGetsItsStickySessionsBackWithoutRequests(t *testing.T) {
	for _, how := range []string{"flush", "restart"} {
		t.Run(how, func(t *testing.T) {
			mc := msmtest.Start(t)
			cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, BackupTimeout: 5 * time.Second, NodeRetryInterval: 200 * time.Millisecond}
			a := start(t, cfg, shop())
			var ids []string
			for i := range 30 {
				br := newBrowser(t)
				br.get(a, fmt.Sprintf("/set?name=user%d", i))
				ids = append(ids, br.sid())
			}
			// The refiller must have seen the node as it was.
			waitFor(t, 10*time.Second, "a check of the node", func() bool { return core.NodeChecks(a.m) > 0 })
			if how == "flush" {
				mc.Flush()
			} else {
				mc.Restart()
			}
			for _, id := range ids {
				waitFor(t, 20*time.Second, "session "+id+" back in memcached", hasKey(mc, id))
			}
			if st := a.m.Stats(); st.SessionsResent != uint64(len(ids)) {
				t.Errorf("SessionsResent = %d, want %d", st.SessionsResent, len(ids))
			}
			// The copies are whole: another instance reads them.
			b := start(t, cfg, shop())
			br := newBrowser(t)
			br.setSID(ids[7])
			if got, _ := br.get(b, "/get?k=name"); got != "user7" {
				t.Errorf("refilled session read on B: name=%q, want user7", got)
			}
		})
	}
}

// A []byte read on every request is hashed, not encoded again; a change
// made in place is still saved, here and on an instance that loaded it.
func TestReadBytesAreNotEncodedAgainButInPlaceChangesAreSaved(t *testing.T) {
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, BackupTimeout: 5 * time.Second}
	rt := shop()
	rt["/blob/init"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("blob", []byte("hello"))
	}
	rt["/blob"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s", s.GetBytes("blob"))
	}
	rt["/blob/flip"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		b, _ := core.GetAs[[]byte](s, "blob")
		b[0] ^= 'h' ^ 'j' // hello <-> jello, in place, no Set
	}
	a := start(t, cfg, rt)
	b := start(t, cfg, rt)
	c := start(t, cfg, rt)
	br := newBrowser(t)
	br.get(a, "/blob/init")

	before, mcBefore := a.m.Stats(), mc.Counters()
	for range 10 {
		if got, _ := br.get(a, "/blob"); got != "hello" {
			t.Fatalf("read %q, want hello", got)
		}
	}
	after, d := a.m.Stats(), mc.Counters().Sub(mcBefore)
	if n := after.BackupsUnchanged - before.BackupsUnchanged; n != 0 || d.Set != 0 {
		t.Errorf("10 reads of a []byte encoded the session %d times and sent %d sets, want 0 and 0", n, d.Set)
	}

	br.get(a, "/blob/flip") // on the owner
	if got, _ := br.get(b, "/blob"); got != "jello" {
		t.Errorf("in-place change on A: B reads %q, want jello", got)
	}
	br.get(b, "/blob/flip") // on an instance that loaded it from memcached
	if got, _ := br.get(c, "/blob"); got != "hello" {
		t.Errorf("in-place change on B: C reads %q, want hello", got)
	}
}

// The request that makes a sticky session too large learns it from Err;
// later requests are told too, and do not encode it again until it changes.
func TestTooLargeStickySessionIsReportedAndNotEncodedAgain(t *testing.T) {
	mc := msmtest.Start(t)
	rt := shop()
	rt["/big"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("blob", strings.Repeat("x", 2<<20)) // over MaxSessionBytes
		fmt.Fprint(w, errors.Is(s.Err(), core.ErrSessionTooLarge))
	}
	rt["/err"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		_, ok := s.Get("blob")
		fmt.Fprint(w, ok, errors.Is(s.Err(), core.ErrSessionTooLarge))
	}
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, BackupTimeout: 5 * time.Second}, rt)
	br := newBrowser(t)
	if got, _ := br.get(a, "/set?name=ann"); got != "ok" {
		t.Fatalf("set: %q", got)
	}
	if got, _ := br.get(a, "/err"); got != "false false" {
		t.Errorf("small session: Err says too large = %q, want false false", got)
	}
	if got, _ := br.get(a, "/big"); got != "true" {
		t.Errorf("the request that made the session too large: Err() is ErrSessionTooLarge = %s, want true", got)
	}
	for range 5 {
		if got, _ := br.get(a, "/err"); got != "true true" {
			t.Errorf("later request: %q, want the value kept locally and Err still too large (true true)", got)
		}
	}
	if st := a.m.Stats(); st.BackupsTooLarge != 1 {
		t.Errorf("BackupsTooLarge = %d, want 1: an unchanged too-large session was encoded again", st.BackupsTooLarge)
	}
	br.get(a, "/set?blob=small") // back under the limit: backed up again
	if got, _ := br.get(a, "/err"); got != "true false" {
		t.Errorf("after shrinking: %q, want true false", got)
	}
}

// Over MaxLocalSessions, a session that memcached does not hold (here: too
// large to send) outlives backed-up sessions used after it, and the
// evicted ones reload from memcached with their data.
func TestLRUBoundEvictsBackedUpSessionsFirst(t *testing.T) {
	mc := msmtest.Start(t)
	rt := shop()
	rt["/big"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("blob", strings.Repeat("x", 2<<20)) // never reaches memcached
	}
	rt["/len"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, len(s.GetString("blob")))
	}
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, BackupTimeout: 5 * time.Second, MaxLocalSessions: 3}, rt)
	local := newBrowser(t)
	local.get(a, "/big") // the least recently used from now on
	var users []*browser
	for i := range 6 {
		br := newBrowser(t)
		br.get(a, fmt.Sprintf("/set?name=user%d", i))
		users = append(users, br)
	}
	st := a.m.Stats()
	if st.LocalSessions != 3 || st.SessionsEvicted != 4 {
		t.Errorf("local sessions %d, evicted %d, want 3 and 4", st.LocalSessions, st.SessionsEvicted)
	}
	if got, _ := local.get(a, "/len"); got != strconv.Itoa(2<<20) {
		t.Errorf("the session memcached lacks was evicted: it reads %s bytes, want %d", got, 2<<20)
	}
	for i, br := range users {
		if got, _ := br.get(a, "/get?k=name"); got != fmt.Sprintf("user%d", i) {
			t.Errorf("user %d reads name=%q after eviction, want user%d", i, got, i)
		}
	}
	if n := a.m.Stats().LocalSessions; n != 3 {
		t.Errorf("LocalSessions = %d after the reloads, want the bound 3", n)
	}
}

// What a handler writes while its session is unavailable: a write before
// the response started turns it into a 503 (the handler's status, headers
// and body dropped); a write after it is refused, the response stays.
func TestUnavailableSessionWrites(t *testing.T) {
	mc := msmtest.Start(t)
	rt := availabilityRoutes()
	rt["/late"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "body")
		s.Set("name", "late")
	}
	rt["/logout"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Invalidate()
		fmt.Fprint(w, "bye")
	}
	rt["/redirect"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("step", 2)
		w.Header().Set("Location", "/next")
		w.WriteHeader(http.StatusFound)
		if _, err := fmt.Fprint(w, "moved"); !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("the handler's write after a refused Set returned %v, want ErrUnavailable", err)
		}
	}
	a := start(t, stalledConfig(mc), rt)
	b := start(t, stalledConfig(mc), rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	id := br.sid()

	mc.Pause()
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	br.hc = hc
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/late", "body", 200},
		{"/logout", core.ErrUnavailable.Error() + "\n", 503},
		{"/redirect", core.ErrUnavailable.Error() + "\n", 503},
	} {
		body, resp := br.get(b, tc.path)
		checkNotLoggedOut(t, tc.path, resp)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if resp.StatusCode == 503 && (resp.Header.Get("Location") != "" || resp.Header.Get("Retry-After") == "") {
			t.Errorf("%s: 503 with Location %q and Retry-After %q", tc.path, resp.Header.Get("Location"), resp.Header.Get("Retry-After"))
		}
	}
	mc.Resume()

	waitFor(t, 10*time.Second, "the session after the stall", func() bool {
		body, _ := br.get(b, "/get?k=name")
		return body == "ann"
	})
	if br.sid() != id {
		t.Errorf("cookie changed from %s to %s", id, br.sid())
	}
}
