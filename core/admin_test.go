package core_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// monAdmin drives a Manager's AdminHandler and keeps every answer, so a
// test can check that no session id ever appeared in one.
type monAdmin struct {
	t   testing.TB
	h   http.Handler
	out strings.Builder
}

func newMonAdmin(t testing.TB, m *core.Manager) *monAdmin {
	return &monAdmin{t: t, h: m.AdminHandler()}
}

// do sends method path with body (a form unless it starts with "{").
func (a *monAdmin) do(method, path, body string) (int, string) {
	a.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	switch {
	case strings.HasPrefix(body, "{"):
		req.Header.Set("Content-Type", "application/json")
	case body != "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	a.out.WriteString(rec.Body.String())
	return rec.Code, rec.Body.String()
}

// post sends a form built from key, value pairs and wants 200.
func (a *monAdmin) post(path string, kv ...string) string {
	a.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	code, body := a.do("POST", path, form.Encode())
	if code != http.StatusOK {
		a.t.Fatalf("POST %s: status %d: %s", path, code, body)
	}
	return body
}

// status returns the decoded GET /stats.
func (a *monAdmin) status() core.AdminStatus {
	a.t.Helper()
	code, body := a.do("GET", "/stats", "")
	if code != http.StatusOK {
		a.t.Fatalf("GET /stats: status %d: %s", code, body)
	}
	var st core.AdminStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		a.t.Fatalf("GET /stats: %v\n%s", err, body)
	}
	return st
}

// monNode returns the node id part of a session id ("n1").
func monNode(id string) string {
	_, rest, _ := strings.Cut(id, "-")
	node, _, _ := strings.Cut(rest, ".")
	return node
}

// monNodeStats returns the NodeStats of id in st.
func monNodeStats(t testing.TB, st core.AdminStatus, id string) core.NodeStats {
	t.Helper()
	for _, n := range st.Nodes {
		if n.ID == id {
			return n
		}
	}
	t.Fatalf("node %s not in stats %+v", id, st.Nodes)
	return core.NodeStats{}
}

func TestAdminStatsFollowTheScenario(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, core.Config{Nodes: nodesOf(mcs...), SyncBackup: true}, shop())
	adm := newMonAdmin(t, a.m)
	br := newBrowser(t)

	br.get(a, "/set?name=ann")
	st := adm.status()
	if !st.Enabled || st.SessionsCreated != 1 || st.BackupsOK != 1 || st.LocalSessions != 1 || st.Requests != 1 {
		t.Errorf("after create: enabled=%v created=%d backupsOK=%d local=%d requests=%d, want true 1 1 1 1",
			st.Enabled, st.SessionsCreated, st.BackupsOK, st.LocalSessions, st.Requests)
	}
	if len(st.Nodes) != 2 || !st.Nodes[0].Up || !st.Nodes[1].Up {
		t.Fatalf("nodes = %+v, want 2 nodes up", st.Nodes)
	}
	home := monNode(br.sid())
	// A new session's first copy is an add (a versioned write: it never
	// replaces a copy already there).
	if got := monNodeStats(t, st, home).Ops["add"]["ok"]; got != 1 {
		t.Errorf("node %s add/ok = %d, want 1", home, got)
	}
	if st.EncodedSize.Count != 1 || st.BackupLatency.Count != 1 {
		t.Errorf("EncodedSize.Count=%d BackupLatency.Count=%d, want 1 1", st.EncodedSize.Count, st.BackupLatency.Count)
	}

	br.get(a, "/set?name=ann") // same value: nothing to send
	if st := adm.status(); st.BackupsUnchanged != 1 || st.BackupsOK != 1 {
		t.Errorf("after equal set: unchanged=%d ok=%d, want 1 1", st.BackupsUnchanged, st.BackupsOK)
	}

	mcs[map[string]int{"n1": 0, "n2": 1}[home]].Kill()
	br.get(a, "/set?name=bob")
	st = adm.status()
	if st.SessionsRelocated != 1 || st.BackupsOK != 2 || st.NodeDownEvents != 1 {
		t.Errorf("after kill: relocated=%d ok=%d nodeDown=%d, want 1 2 1", st.SessionsRelocated, st.BackupsOK, st.NodeDownEvents)
	}
	dead := monNodeStats(t, st, home)
	// The versioned write's first step, the gets, met the dead node.
	if dead.Up || dead.Ops["gets"]["error"] < 1 {
		t.Errorf("killed node %s: up=%v gets/error=%d, want false >= 1", home, dead.Up, dead.Ops["gets"]["error"])
	}

	mcs[0].Kill()
	mcs[1].Kill()
	br.get(a, "/set?name=cy")
	if st := adm.status(); st.BackupsFailed != 1 {
		t.Errorf("with every node dead: BackupsFailed = %d, want 1", st.BackupsFailed)
	}
	if got, _ := br.get(a, "/get?k=name"); got != "cy" {
		t.Errorf("session with every node dead reads %q, want cy (local copy)", got)
	}

	// GET / answers the same document.
	code, body := adm.do("GET", "/", "")
	var st2 core.AdminStatus
	if err := json.Unmarshal([]byte(body), &st2); code != 200 || err != nil || st2.SessionsCreated != 1 {
		t.Errorf("GET /: status %d, err %v, created %d", code, err, st2.SessionsCreated)
	}
}

func TestAdminDisableStopsMemcachedTraffic(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, shop())
	adm := newMonAdmin(t, a.m)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")

	if body := adm.post("/disable"); !strings.Contains(body, `"enabled": false`) {
		t.Errorf("POST /disable answered %s", body)
	}
	if adm.status().Enabled || a.m.Enabled() {
		t.Fatal("still enabled after POST /disable")
	}
	before := mc.Counters()
	br.get(a, "/set?name=bob")
	br.get(a, "/count")
	other := newBrowser(t)
	other.get(a, "/set?name=new") // a session created while disabled
	if d := mc.Counters().Sub(before); d != (msmtest.Counters{}) {
		t.Errorf("modifying requests while disabled reached memcached: %+v", d)
	}
	if got, _ := br.get(a, "/get?k=name"); got != "bob" {
		t.Errorf("disabled: session reads %q, want bob (local)", got)
	}

	if body := adm.post("/enable"); !strings.Contains(body, `"enabled": true`) {
		t.Errorf("POST /enable answered %s", body)
	}
	before = mc.Counters()
	br.get(a, "/set?name=cy")
	other.get(a, "/set?name=dan")
	if d := mc.Counters().Sub(before); d.Set != 2 {
		t.Errorf("after /enable two modifying requests cost %d sets, want 2", d.Set)
	}
	b := start(t, core.Config{Nodes: nodesOf(mc)}, shop())
	if got, _ := other.get(b, "/get?k=name"); got != "dan" {
		t.Errorf("session created while disabled, read on another instance: %q, want dan", got)
	}
}

func TestAdminNodesSwapsNodes(t *testing.T) {
	t.Parallel()
	mc1, mc2 := msmtest.Start(t), msmtest.Start(t)
	a := start(t, core.Config{Nodes: "n1:" + mc1.Addr(), SyncBackup: true}, shop())
	adm := newMonAdmin(t, a.m)
	old := newBrowser(t)
	old.get(a, "/set?name=ann")

	body := adm.post("/nodes", "nodes", "n2:"+mc2.Addr())
	var got struct{ Nodes []core.NodeStats }
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Nodes) != 1 || got.Nodes[0].ID != "n2" {
		t.Fatalf("POST /nodes answered %s (err %v), want node n2 alone", body, err)
	}

	before1, before2 := mc1.Counters(), mc2.Counters()
	fresh := newBrowser(t)
	fresh.get(a, "/set?name=bob")
	if n := monNode(fresh.sid()); n != "n2" {
		t.Errorf("new session on node %q, want n2", n)
	}
	old.get(a, "/set?name=cy") // its node is gone: moved to n2
	old.get(a, "/get?k=name")  // carries the new cookie
	if n := monNode(old.sid()); n != "n2" {
		t.Errorf("session of the removed node is on %q, want n2", n)
	}
	if d := mc1.Counters().Sub(before1); d.Set != 0 {
		t.Errorf("removed node got %d sets", d.Set)
	}
	if d := mc2.Counters().Sub(before2); d.Set != 2 {
		t.Errorf("new node got %d sets, want 2", d.Set)
	}

	// JSON body, with a failover node.
	code, body := adm.do("POST", "/nodes", fmt.Sprintf(`{"nodes": "n1:%s,n2:%s", "failover": "n1"}`, mc1.Addr(), mc2.Addr()))
	if code != 200 {
		t.Fatalf("POST /nodes JSON: %d %s", code, body)
	}
	if st := adm.status(); len(st.Nodes) != 2 || !monNodeStats(t, st, "n1").Failover || monNodeStats(t, st, "n2").Failover {
		t.Errorf("nodes after JSON POST: %+v, want n1 failover, n2 not", st.Nodes)
	}

	for _, bad := range []struct{ body, want string }{
		{"nodes=n1%3Anohost", `core: Nodes: node "n1:nohost"`},
		{"nodes=n1%3Ah%3A1&failover=n9", `FailoverNodes: node "n9"`},
		{"failover=n1", `missing "nodes"`},
		{`{"nodes": 5}`, "JSON object of strings"},
	} {
		code, body := adm.do("POST", "/nodes", bad.body)
		var e struct{ Error string }
		json.Unmarshal([]byte(body), &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, bad.want) {
			t.Errorf("POST /nodes %s: %d %s, want 400 with %q", bad.body, code, body, bad.want)
		}
	}
	if st := adm.status(); len(st.Nodes) != 2 {
		t.Errorf("a bad list changed the nodes: %+v", st.Nodes)
	}
}

func TestAdminInvalidate(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true}
	a, b := start(t, cfg, shop()), start(t, cfg, shop())
	admA, admB := newMonAdmin(t, a.m), newMonAdmin(t, b.m)

	// Invalidated where it lives: gone there and for every other instance.
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	id := br.sid()
	body := admA.post("/invalidate", "id", id)
	if !strings.Contains(body, `"invalidated": true`) || !strings.Contains(body, `"session": "`) {
		t.Errorf("POST /invalidate answered %s", body)
	}
	if !goneFromMemcached(mcClient(mc), keyOf(id)) {
		t.Errorf("memcached still holds the session after /invalidate")
	}
	if got, _ := br.get(b, "/get?k=name"); got != "<none>" {
		t.Errorf("other instance after /invalidate reads %q", got)
	}
	br.setSID(id)
	if got, _ := br.get(a, "/get?k=name"); got != "<none>" {
		t.Errorf("this instance after /invalidate reads %q", got)
	}

	// Invalidated through another instance that holds it too (JSON body).
	br2 := newBrowser(t)
	br2.get(a, "/set?name=bob")
	id2 := br2.sid()
	if got, _ := br2.get(b, "/get?k=name"); got != "bob" {
		t.Fatalf("instance B reads %q, want bob", got)
	}
	if code, body := admB.do("POST", "/invalidate", `{"id": "`+id2+`"}`); code != 200 {
		t.Fatalf("POST /invalidate JSON: %d %s", code, body)
	}
	if got, _ := br2.get(b, "/get?k=name"); got != "<none>" {
		t.Errorf("instance B after its /invalidate reads %q", got)
	}
	c := start(t, cfg, shop())
	br2.setSID(id2)
	if got, _ := br2.get(c, "/get?k=name"); got != "<none>" {
		t.Errorf("a third instance loads the invalidated session: %q", got)
	}
	if st := admA.status(); st.SessionsInvalidated != 1 {
		t.Errorf("A SessionsInvalidated = %d, want 1", st.SessionsInvalidated)
	}

	// Refused: malformed, missing, or in the URL; never echoed.
	for _, tc := range []struct{ path, body string }{
		{"/invalidate", "id=" + url.QueryEscape(id+"\r\nflush_all")},
		{"/invalidate", "id=" + id[:20]},
		{"/invalidate", ""},
		{"/invalidate?id=" + id, ""},
	} {
		code, body := admA.do("POST", tc.path, tc.body)
		if code != http.StatusBadRequest {
			t.Errorf("POST %s %q: status %d, want 400", tc.path, tc.body, code)
		}
		if strings.Contains(body, id[:20]) {
			t.Errorf("POST %s: answer echoes the id: %s", tc.path, body)
		}
	}
	for _, out := range []string{admA.out.String(), admB.out.String()} {
		for _, secret := range []string{id[:32], id2[:32]} {
			if strings.Contains(out, secret) {
				t.Errorf("admin output holds a session id:\n%s", out)
			}
		}
	}
}

func TestAdminResetZeroesCounters(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, shop())
	adm := newMonAdmin(t, a.m)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	br.get(a, "/set?name=ann")
	br.get(a, "/get?k=name")
	if st := adm.status(); st.Requests == 0 || st.BackupsOK == 0 {
		t.Fatalf("no traffic counted: %+v", st)
	}
	adm.post("/reset")
	st := adm.status()
	if st.Requests != 0 || st.SessionsCreated != 0 || st.BackupsOK != 0 || st.BackupsUnchanged != 0 ||
		st.EncodedSize.Count != 0 || st.BackupLatency.Count != 0 || len(st.Nodes[0].Ops) != 0 {
		t.Errorf("after /reset: %+v", st)
	}
	if st.LocalSessions != 1 {
		t.Errorf("after /reset LocalSessions = %d, want 1 (a gauge stays)", st.LocalSessions)
	}
	br.get(a, "/set?name=bob")
	if st := adm.status(); st.Requests != 1 || st.BackupsOK != 1 {
		t.Errorf("counting after /reset: requests=%d ok=%d, want 1 1", st.Requests, st.BackupsOK)
	}
}

func TestAdminMethodsPathsAndOrigin(t *testing.T) {
	t.Parallel()
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	adm := newMonAdmin(t, m)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 200}, {"GET", "/stats", 200}, {"HEAD", "/stats", 200},
		{"GET", "/enable", 405}, {"GET", "/disable", 405}, {"GET", "/nodes", 405},
		{"GET", "/invalidate", 405}, {"GET", "/reset", 405},
		{"POST", "/stats", 405}, {"PUT", "/", 405}, {"DELETE", "/reset", 405},
		{"GET", "/nope", 404}, {"POST", "/nope", 404},
	} {
		if code, _ := adm.do(tc.method, tc.path, ""); code != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}

	// A cross-site browser POST (CSRF through an operator's browser) is refused.
	req := httptest.NewRequest("POST", "/disable", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	m.AdminHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || !m.Enabled() {
		t.Errorf("cross-site POST /disable: status %d, enabled %v; want 403, true", rec.Code, m.Enabled())
	}

	// Mounted under a prefix with StripPrefix.
	mux := http.NewServeMux()
	mux.Handle("/admin/sessions/", http.StripPrefix("/admin/sessions", m.AdminHandler()))
	for _, p := range []string{"/admin/sessions/", "/admin/sessions/stats"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %q", p, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	mux.Handle("/ops/", http.StripPrefix("/ops/", m.AdminHandler())) // prefix with its slash
	for _, p := range []string{"/ops/", "/ops/stats"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/admin/sessions/disable", nil))
	if rec.Code != 200 || m.Enabled() {
		t.Errorf("POST /admin/sessions/disable: %d, enabled %v", rec.Code, m.Enabled())
	}
}

// TestIDsStayOutOfAdminOutputAndLogs runs sessions through creation,
// backup, a dead node, relocation, an oversized value, corrupt bytes,
// loading on another instance and invalidation, with debug logging, and
// checks that no session id appears in the logs or the admin answers.
func TestIDsStayOutOfAdminOutputAndLogs(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, Logger: logger, Route: "r1"}
	rt := shop()
	rt["/big"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("blob", strings.Repeat("x", 2<<20))
	}
	a := start(t, cfg, rt)
	cfgB := cfg
	cfgB.Route = "r2"
	b := start(t, cfgB, rt)
	admA, admB := newMonAdmin(t, a.m), newMonAdmin(t, b.m)

	var ids []string
	var browsers []*browser
	for i := range 6 {
		br := newBrowser(t)
		br.get(a, fmt.Sprintf("/set?name=user%d", i))
		ids = append(ids, br.sid())
		browsers = append(browsers, br)
	}
	browsers[0].get(a, "/big")        // too large: logged with its size
	browsers[1].get(b, "/get?k=name") // taken over by B
	mcs[0].Kill()                     // sessions on n1 move
	for _, br := range browsers[2:] {
		br.get(a, "/set?name=changed")
		br.get(a, "/get?k=name")
		ids = append(ids, br.sid())
	}
	corrupt := strings.Repeat("ef", 16) + "-n2"
	mcClient(mcs[1]).Set(&memcache.Item{Key: corrupt, Value: []byte("garbage")})
	rawGet(t, a, "/get?k=name", core.DefaultCookieName+"="+corrupt)
	ids = append(ids, corrupt)

	admA.status()
	admB.status()
	admA.post("/invalidate", "id", ids[2])
	admB.post("/invalidate", "id", ids[1])
	admA.do("POST", "/invalidate", "id="+ids[3][:36]) // malformed

	log := logs.String()
	for _, want := range []string{"session=", "node down", "relocated", "too large", "undecodable"} {
		if !strings.Contains(log, want) {
			t.Errorf("log has no %q: the scenario did not run as planned\n%s", want, log)
		}
	}
	for _, id := range ids {
		base := id[:32]
		for name, out := range map[string]string{"log": log, "admin A": admA.out.String(), "admin B": admB.out.String()} {
			if strings.Contains(out, base) {
				t.Errorf("%s holds session id %s…:\n%s", name, base[:6], out)
			}
		}
	}
}
