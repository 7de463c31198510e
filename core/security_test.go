package core_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// This file holds the security tests of issue 7: no client byte reaches
// memcached as a key, RenewID and Invalidate kill the old id everywhere,
// MaxLifetime is enforced on busy sessions, cookie attributes, and config
// errors. docs/security.md refers to them.

// secBase returns 32 fresh lowercase hex chars: the base of an id no
// session has.
func secBase(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// secRaw sends a GET for path with the given raw header lines, written
// byte for byte on a TCP connection (so CR, LF and NUL reach the server as
// an attacker sends them), and returns the status and body. The HTTP server
// may refuse the request itself (400).
func secRaw(t testing.TB, inst *instance, path string, headerLines ...string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(inst.srv.URL, "http://"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	req := "GET " + path + " HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n"
	for _, h := range headerLines {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// secClient is a client that carries its session id in the cookie or, when
// header is set, in that request/response header (Config.Header).
type secClient struct {
	t      testing.TB
	header string
	id     string
	ids    []string // every id it was given
}

func (c *secClient) get(inst *instance, path string) string {
	c.t.Helper()
	req, _ := http.NewRequest("GET", inst.srv.URL+path, nil)
	if c.id != "" {
		if c.header != "" {
			req.Header.Set(c.header, c.id)
		} else {
			req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: c.id})
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	set, ok := "", false
	if c.header != "" {
		if v := resp.Header.Values(c.header); len(v) > 0 {
			set, ok = v[0], true
		}
	} else {
		for _, ck := range resp.Cookies() {
			if ck.Name == core.DefaultCookieName {
				set, ok = ck.Value, true
				if ck.MaxAge < 0 {
					set = ""
				}
			}
		}
	}
	if ok {
		c.id = set
		if set != "" {
			c.ids = append(c.ids, set)
		}
	}
	return string(body)
}

// secRoutes is shop() plus login (RenewID) and logout (Invalidate).
func secRoutes() routes {
	rt := shop()
	rt["/login"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("user", r.URL.Query().Get("user"))
		s.RenewID()
		fmt.Fprint(w, s.ID())
	}
	rt["/logout"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Invalidate()
		fmt.Fprint(w, "bye")
	}
	return rt
}

// secCommandKeys splits one memcached command line into its command and
// keys, checking the exact field count of each command gomemcache sends:
// a key with a space in it would add a field. ok is false for anything
// else, an injected "flush_all" line included.
func secCommandKeys(line string) (cmd string, keys []string, ok bool) {
	if strings.ContainsFunc(line, func(r rune) bool { return r < ' ' || r >= 0x7f }) {
		return "", nil, false
	}
	f := strings.Split(line, " ")
	n := len(f)
	if f[len(f)-1] == "noreply" {
		n--
	}
	switch f[0] {
	case "get", "gets":
		return f[0], f[1:], len(f) >= 2
	case "gat", "gats":
		return f[0], f[2:], len(f) >= 3
	case "set", "add", "replace", "append", "prepend":
		return f[0], f[1:2], n == 5
	case "cas":
		return f[0], f[1:2], n == 6
	case "touch", "incr", "decr":
		return f[0], f[1:2], n == 3
	case "delete":
		return f[0], f[1:2], n == 2
	case "stats": // the refiller's look at a node: no key
		return f[0], nil, n == 1
	}
	return "", nil, false
}

// secHostile is a malformed or foreign session id an attacker sends, and
// the random base it was built from: neither may ever reach memcached.
type secHostile struct {
	name, value, base string
}

func secHostiles(t testing.TB, prefix string) []secHostile {
	var hs []secHostile
	add := func(name string, mk func(b string) string) {
		b := secBase(t)
		hs = append(hs, secHostile{name, mk(b), b})
	}
	add("CRLF injection", func(b string) string { return b + "-n1\r\nflush_all" })
	add("LF injection", func(b string) string { return b + "-n1\nflush_all" })
	add("space", func(b string) string { return b + "-n1 flush_all" })
	add("NUL", func(b string) string { return b + "-n1\x00" })
	add("tab", func(b string) string { return b + "-n\t1" }) // a trailing one is trimmed by HTTP itself
	add("DEL", func(b string) string { return b + "-n1\x7f" })
	add("10 KB node", func(b string) string { return b + "-" + strings.Repeat("n", 10<<10) })
	add("10 KB hex", func(b string) string { return strings.Repeat(b, 320) })
	add("unicode node", func(b string) string { return b + "-ñ1" })
	add("unicode route", func(b string) string { return b + "-n1.ルート" })
	add("unicode first", func(b string) string { return "☃" + b + "-n1" })
	add("unknown node", func(b string) string { return b + "-n9" })
	add("unknown node with route", func(b string) string { return b + "-n3.r1" })
	add("upper-case hex", func(b string) string { return strings.ToUpper(b) + "-n1" })
	add("other app's prefix", func(b string) string { return "other_" + b + "-n1" })
	add("our own prefix", func(b string) string { return prefix + b + "-n1" })
	add("backup key", func(b string) string { return "bak:" + b + "-n1" })
	add("lock key", func(b string) string { return "lock:" + b + "-n1" })
	add("path", func(b string) string { return "../" + b })
	add("url-encoded CRLF", func(b string) string { return b + "-n1%0d%0aflush_all" })
	add("short base", func(b string) string { return b[:31] })
	add("two routes", func(b string) string { return b + "-n1.r.s" })
	add("empty node", func(b string) string { return b + "-" })
	add("quote", func(b string) string { return b + "-n1\"" })
	return hs
}

// TestNoClientBytesReachMemcachedAsKeys puts a recording proxy in front of
// each memcached node and drives hostile ids and normal traffic through two
// instances: every key memcached receives must be KeyPrefix + 32 hex + "-"
// + a configured node id (with "bak:" in front for non-sticky backup
// copies; a lock item is "lock:" + KeyPrefix + 32 hex), no line may be anything but a well-formed command, no hostile
// id's bytes may reach memcached at all, and no id may reach the logs.
func TestNoClientBytesReachMemcachedAsKeys(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"sticky", "nonsticky", "header"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			secKeyInjection(t, mode)
		})
	}
}

func secKeyInjection(t *testing.T, mode string) {
	mcs := msmtest.StartN(t, 2)
	p1 := msmtest.StartProxy(t, mcs[0].Addr())
	p2 := msmtest.StartProxy(t, mcs[1].Addr())
	const prefix = "app-1.v2:" // '-' and '.' must not confuse routing
	logs := &logBuffer{}
	cfg := core.Config{
		Nodes:     "n1:" + p1.Addr() + ",n2:" + p2.Addr(),
		KeyPrefix: prefix, SyncBackup: true, MaxInactive: 8 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	idLine := func(v string) string { return "Cookie: " + core.DefaultCookieName + "=" + v }
	switch mode {
	case "nonsticky":
		cfg.NonSticky, cfg.LockingMode = true, core.LockAll
	case "header":
		cfg.Header = "X-Session"
		idLine = func(v string) string { return "X-Session: " + v }
	}
	a := start(t, cfg, secRoutes())
	b := start(t, cfg, secRoutes())

	// Another app shares the memcached servers (not through the proxies).
	other := start(t, core.Config{Nodes: nodesOf(mcs...), KeyPrefix: "other_", SyncBackup: true}, secRoutes())
	oc := &secClient{t: t}
	oc.get(other, "/set?secret=theirs")
	if oc.id == "" {
		t.Fatal("the other app created no session")
	}

	// Canaries: a flush_all or delete smuggled through would remove them.
	for _, mc := range mcs {
		if err := mcClient(mc).Set(&memcache.Item{Key: "canary", Value: []byte("alive")}); err != nil {
			t.Fatal(err)
		}
	}

	hostiles := secHostiles(t, prefix)
	for _, h := range hostiles {
		for _, inst := range []*instance{a, b} {
			code, body := secRaw(t, inst, "/get?k=secret", idLine(h.value))
			if code >= 500 || (code == 200 && body != "<none>") {
				t.Errorf("%s: status %d, body %.40q", h.name, code, body)
			}
		}
	}
	// Well-formed ids that name no session of this app: looked up (under
	// this app's prefix only), never found.
	for _, v := range []string{oc.id, secBase(t) + "-n1", secBase(t) + "-n2.r1"} {
		if code, body := secRaw(t, a, "/get?k=secret", idLine(v)); code != 200 || body != "<none>" {
			t.Errorf("foreign id %q: status %d, body %q", v, code, body)
		}
	}

	// Normal traffic, with a value full of protocol bytes: as data it is
	// length-prefixed and harmless.
	c := &secClient{t: t, header: cfg.Header}
	note := "x\r\nflush_all\r\ndelete canary\r\n"
	c.get(a, "/set?name=ann&note="+url.QueryEscape(note))
	if got := c.get(a, "/get?k=name"); got != "ann" {
		t.Fatalf("name = %q", got)
	}
	time.Sleep(2100 * time.Millisecond) // past MaxInactive/4: a touch is due
	c.get(a, "/get?k=name")
	if got := c.get(b, "/get?k=note"); got != note {
		t.Errorf("note on the other instance = %q, want %q", got, note)
	}
	c.get(a, "/login?user=ann")
	c.get(a, "/count")
	c.get(a, "/logout")
	a.m.Close()
	b.m.Close()

	for i, mc := range mcs {
		if it, err := mcClient(mc).Get("canary"); err != nil || string(it.Value) != "alive" {
			t.Errorf("canary on node %d gone (%v): a command was injected", i+1, err)
		}
	}

	keyRE := regexp.MustCompile(`^((bak:)?` + regexp.QuoteMeta(prefix) + `[0-9a-f]{32}-n[12]|lock:` + regexp.QuoteMeta(prefix) + `[0-9a-f]{32})$`)
	seen := map[string]int{}
	for _, p := range []*msmtest.Proxy{p1, p2} {
		for _, line := range p.Commands() {
			cmd, keys, ok := secCommandKeys(line)
			if !ok {
				t.Errorf("memcached received a line that is no well-formed command: %.80q", line)
				continue
			}
			seen[cmd]++
			for _, k := range keys {
				if !keyRE.MatchString(k) {
					t.Errorf("memcached received key %q outside the grammar (in %.80q)", k, line)
				}
			}
		}
	}
	t.Logf("commands seen: %v", seen)
	// Invalidation writes a tombstone (a set), so a delete is not required.
	if seen["set"] < 2 || seen["get"]+seen["gets"]+seen["gat"] == 0 {
		t.Errorf("the traffic did not exercise sets and a read: %v", seen)
	}
	if mode == "nonsticky" && seen["add"] == 0 {
		t.Errorf("non-sticky with locking sent no lock (add): %v", seen)
	}

	received := append(p1.Received(), p2.Received()...)
	logText := logs.String()
	for _, h := range hostiles {
		for _, s := range []string{h.base, strings.ToUpper(h.base), h.value} {
			if bytes.Contains(received, []byte(s)) {
				t.Errorf("%s: client bytes %.40q reached memcached", h.name, s)
			}
			if strings.Contains(logText, s) {
				t.Errorf("%s: client bytes %.40q reached the log", h.name, s)
			}
		}
	}
	for _, id := range append(c.ids, oc.id) {
		if strings.Contains(logText, id[:32]) {
			t.Errorf("a session id (base %s) reached the log", id[:8]+"...")
		}
	}
	if st := a.m.Stats(); st.InvalidIDs == 0 {
		t.Errorf("InvalidIDs = 0 after %d hostile ids", len(hostiles))
	}
}

// TestUnknownIDIsNeverAdopted: a well-formed id the client chose (session
// fixation) never becomes the id of a new session.
func TestUnknownIDIsNeverAdopted(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, secRoutes())
	for _, chosen := range []string{secBase(t) + "-n1", secBase(t)} {
		c := &secClient{t: t, id: chosen}
		c.get(a, "/set?name=eve")
		if c.id == "" || c.id == chosen || strings.HasPrefix(c.id, chosen[:32]) {
			t.Errorf("client chose %q, session got id %q", chosen, c.id)
		}
	}
}

// TestRenewIDKillsTheOldID: RenewID gives a new id with the same data;
// the old id is dead on this instance, on another instance and in
// memcached.
func TestRenewIDKillsTheOldID(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true}
	a := start(t, cfg, secRoutes())
	b := start(t, cfg, secRoutes())
	direct := mcClient(mc)

	c := &secClient{t: t}
	c.get(a, "/set?cart=tea")
	oldID := c.id
	body := c.get(a, "/login?user=ann")
	newID := c.id
	if newID == "" || newID == oldID || newID[:32] == oldID[:32] || body != newID {
		t.Fatalf("RenewID: old %q, new %q (ID() said %q): want a new base", oldID, newID, body)
	}
	if got := c.get(a, "/get?k=cart"); got != "tea" {
		t.Errorf("data lost by RenewID: cart = %q", got)
	}
	if got := c.get(b, "/get?k=user"); got != "ann" {
		t.Errorf("new id on another instance: user = %q", got)
	}
	if _, err := direct.Get(keyOf(newID)); err != nil {
		t.Errorf("new id not in memcached: %v", err)
	}

	attacker := &secClient{t: t, id: oldID}
	for name, inst := range map[string]*instance{"this instance": a, "another instance": b} {
		if got := attacker.get(inst, "/get?k=cart"); got != "<none>" {
			t.Errorf("old id still works on %s: cart = %q", name, got)
		}
	}
	fresh := start(t, cfg, secRoutes())
	if got := attacker.get(fresh, "/get?k=user"); got != "<none>" {
		t.Errorf("old id works on a new instance: user = %q", got)
	}
	if !goneFromMemcached(direct, keyOf(oldID)) {
		t.Errorf("old id still in memcached")
	}
}

// TestInvalidateIsGoneEverywhere: after Invalidate the id works nowhere,
// memcached holds nothing under it, and the cookie is expired.
func TestInvalidateIsGoneEverywhere(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true}
	a := start(t, cfg, secRoutes())
	b := start(t, cfg, secRoutes())
	c := &secClient{t: t}
	c.get(a, "/set?name=ann")
	id := c.id
	if got := c.get(a, "/logout"); got != "bye" || c.id != "" {
		t.Fatalf("logout: body %q, cookie left %q (want it expired)", got, c.id)
	}
	stolen := &secClient{t: t, id: id}
	for name, inst := range map[string]*instance{"this instance": a, "another instance": b} {
		if got := stolen.get(inst, "/get?k=name"); got != "<none>" {
			t.Errorf("invalidated id works on %s: %q", name, got)
		}
	}
	if !goneFromMemcached(mcClient(mc), keyOf(id)) {
		t.Errorf("invalidated session still in memcached")
	}
}

// TestOldIDDiesOnInstancesHoldingACopy: in sticky mode an instance that
// served the session before (and holds it in local memory, say because a
// thief's requests went there) must stop serving the old id once it was
// renewed or invalidated elsewhere, and must never write it back to
// memcached, where every instance could load it again.
func TestOldIDDiesOnInstancesHoldingACopy(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	// MaxInactive leaves a slow machine seconds between the requests.
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxInactive: 8 * time.Second}
	direct := mcClient(mc)
	for _, action := range []string{"/login?user=ann", "/logout"} {
		a := start(t, cfg, secRoutes())
		b := start(t, cfg, secRoutes())
		victim := &secClient{t: t}
		victim.get(a, "/set?cart=tea")
		oldID := victim.id
		thief := &secClient{t: t, id: oldID} // a stolen (or fixed) cookie
		if got := thief.get(b, "/get?k=cart"); got != "tea" {
			t.Fatalf("setup: b does not serve the session: %q", got)
		}
		victim.get(a, action)
		// Past MaxInactive/4: b's next use of its copy is due to refresh it.
		time.Sleep(2100 * time.Millisecond)
		served := thief.get(b, "/get?k=cart")
		thief.get(b, "/count")
		if served == "tea" || !goneFromMemcached(direct, keyOf(oldID)) {
			t.Errorf("%s on a: b still serves the old id (cart=%q), or memcached holds it again", action, served)
		}
		if thief.id == oldID {
			t.Errorf("%s: b kept the old id %q", action, oldID)
		}
	}
}

// TestMaxLifetimeEndsABusySession: a session used every 500ms still ends
// MaxLifetime after its creation, here and on every other instance.
func TestMaxLifetimeEndsABusySession(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	const lifetime = 3 * time.Second
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxLifetime: lifetime}
	a := start(t, cfg, secRoutes())
	b := start(t, cfg, secRoutes())
	c := &secClient{t: t}
	// The session is created between t0 and created: it must live until
	// t0+lifetime at least and must be gone by created+lifetime at the
	// latest, however long the requests take on a busy machine.
	t0 := time.Now()
	if got := c.get(a, "/count"); got != "1" {
		t.Fatalf("first count %q", got)
	}
	created := time.Now()
	first := c.id
	want := 2
	renewed := false
	for !renewed && time.Since(t0) < lifetime+effectWait {
		time.Sleep(500 * time.Millisecond)
		sent := time.Since(created)
		got := c.get(a, "/count")
		done := time.Since(t0)
		switch {
		case c.id == first && !renewed:
			if sent > lifetime+100*time.Millisecond {
				t.Fatalf("session still alive %v after creation, MaxLifetime %v", sent, lifetime)
			}
			if got != strconv.Itoa(want) {
				t.Fatalf("count %s at %v, want %d", got, sent, want)
			}
			want++
		case !renewed:
			renewed = true
			if done < lifetime {
				t.Fatalf("session ended after %v, before MaxLifetime %v", done, lifetime)
			}
			if got != "1" {
				t.Errorf("new session after the lifetime counts %s, want 1", got)
			}
		}
	}
	if !renewed {
		t.Fatal("the session never ended")
	}
	old := &secClient{t: t, id: first}
	for name, inst := range map[string]*instance{"this instance": a, "another instance": b} {
		if got := old.get(inst, "/get?k=n"); got != "<none>" {
			t.Errorf("expired id works on %s: n = %q", name, got)
		}
	}
}

// secCookie makes one request that creates a session on a Manager with cfg
// (over TLS when tls is set) and returns the raw Set-Cookie header and
// the response.
func secCookie(t *testing.T, cfg core.Config, tls bool, path string) (string, *http.Response) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := core.New(cfg)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	h := m.Middleware(secRoutes())
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(func() { srv.Close(); m.Close() })
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("%d Set-Cookie headers: %q", len(sc), sc)
	}
	return sc[0], resp
}

func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	parse := func(t *testing.T, raw string) *http.Cookie {
		t.Helper()
		c, err := http.ParseSetCookie(raw)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", raw, err)
		}
		return c
	}
	t.Run("defaults", func(t *testing.T) {
		raw, resp := secCookie(t, core.Config{}, false, "/set?a=1")
		c := parse(t, raw)
		if c.Name != "sid" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("default cookie %q: want sid, HttpOnly, SameSite=Lax, Path=/, no Domain", raw)
		}
		if c.Secure || c.Partitioned {
			t.Errorf("default cookie over plain HTTP %q: Secure or Partitioned set", raw)
		}
		if strings.Contains(raw, "Max-Age") || strings.Contains(raw, "Expires") {
			t.Errorf("default cookie %q outlives the browser session", raw)
		}
		if !strings.Contains(resp.Header.Get("Vary"), "Cookie") {
			t.Errorf("a response setting the session cookie lacks Vary: Cookie")
		}
	})
	t.Run("persist", func(t *testing.T) {
		raw, _ := secCookie(t, core.Config{Cookie: core.CookieConfig{Persist: true}, MaxInactive: 20 * time.Minute}, false, "/set?a=1")
		if c := parse(t, raw); c.MaxAge != 1500 || !c.HttpOnly {
			t.Errorf("persistent cookie %q: want Max-Age=1500 (MaxInactive and its renewal interval), HttpOnly", raw)
		}
	})
	t.Run("secure configured", func(t *testing.T) {
		raw, _ := secCookie(t, core.Config{Cookie: core.CookieConfig{Secure: true}}, false, "/set?a=1")
		if c := parse(t, raw); !c.Secure {
			t.Errorf("Cookie.Secure: cookie %q not Secure", raw)
		}
	})
	t.Run("secure over TLS", func(t *testing.T) {
		raw, _ := secCookie(t, core.Config{}, true, "/set?a=1")
		if c := parse(t, raw); !c.Secure || !c.HttpOnly {
			t.Errorf("request over TLS: cookie %q not Secure", raw)
		}
	})
	t.Run("partitioned", func(t *testing.T) {
		raw, _ := secCookie(t, core.Config{Cookie: core.CookieConfig{Secure: true, Partitioned: true}}, true, "/set?a=1")
		if c := parse(t, raw); !c.Partitioned || !c.Secure {
			t.Errorf("Cookie.Partitioned: cookie %q", raw)
		}
	})
	t.Run("__Host- prefix", func(t *testing.T) {
		raw, _ := secCookie(t, core.Config{Cookie: core.CookieConfig{Name: "__Host-sid", Secure: true}}, true, "/set?a=1")
		if c := parse(t, raw); c.Name != "__Host-sid" || !c.Secure || c.Path != "/" || c.Domain != "" {
			t.Errorf("__Host- cookie %q: want Secure, Path=/, no Domain", raw)
		}
	})
	t.Run("logout expires it", func(t *testing.T) {
		cfg := core.Config{Cookie: core.CookieConfig{Secure: true, Partitioned: true, Domain: "app.test"}}
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		m, err := core.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		h := m.Middleware(secRoutes())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/set?a=1", nil))
		id := parse(t, rec.Header().Get("Set-Cookie")).Value
		req := httptest.NewRequest("GET", "/logout", nil)
		req.AddCookie(&http.Cookie{Name: "sid", Value: id})
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		raw := rec.Header().Get("Set-Cookie")
		c := parse(t, raw)
		if c.MaxAge >= 0 || c.Value != "" || !c.HttpOnly || !c.Secure || !c.Partitioned ||
			c.Path != "/" || c.Domain != "app.test" || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("logout cookie %q: want an expired cookie with the same attributes", raw)
		}
	})
	t.Run("header mode sets no cookie", func(t *testing.T) {
		cfg := core.Config{Header: "X-Session", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		m, err := core.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		h := m.Middleware(secRoutes())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/set?name=ann", nil))
		id := rec.Header().Get("X-Session")
		if id == "" || rec.Header().Get("Set-Cookie") != "" {
			t.Fatalf("header mode: X-Session %q, Set-Cookie %q", id, rec.Header().Get("Set-Cookie"))
		}
		req := httptest.NewRequest("GET", "/get?k=name", nil)
		req.Header.Set("X-Session", id)
		req.AddCookie(&http.Cookie{Name: "sid", Value: secBase(t)})
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Body.String() != "ann" {
			t.Errorf("header mode: session not found by its header: %q", rec.Body)
		}
	})
}

// TestNewRejectsBadConfigWithoutPanic: every bad setting is an error from
// core.New that names the field; nothing panics.
func TestNewRejectsBadConfigWithoutPanic(t *testing.T) {
	t.Parallel()
	cases := []struct {
		field string
		cfg   core.Config
	}{
		{"Nodes", core.Config{Nodes: "n1:h:1,h:2"}},
		{"Nodes", core.Config{Nodes: "n1:h:99999"}},
		{"FailoverNodes", core.Config{Nodes: "n1:h:1", FailoverNodes: "n2"}},
		{"LockingMode", core.Config{LockingMode: "sometimes"}},
		{"LockingMode", core.Config{LockingMode: "uriPattern:("}},
		{"IgnorePattern", core.Config{IgnorePattern: "("}},
		{"AttributeFilter", core.Config{AttributeFilter: "[z-a]"}},
		{"KeyPrefix", core.Config{KeyPrefix: "has space"}},
		{"KeyPrefix", core.Config{KeyPrefix: "crlf\r\nflush_all"}},
		{"KeyPrefix", core.Config{KeyPrefix: strings.Repeat("p", 200)}},
		{"Route", core.Config{Route: "a.b"}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "bad name"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Host-sid"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Host-sid", Secure: true, Domain: "app.test"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Host-sid", Secure: true, Path: "/app"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Secure-sid"}}},
		{"Cookie.Partitioned", core.Config{Cookie: core.CookieConfig{Partitioned: true}}},
		{"Header", core.Config{Header: "X Session"}},
		{"LockExpiry", core.Config{LockExpiry: -time.Second}},
		{"LockWait", core.Config{LockWait: -time.Second}},
		{"BackupTimeout", core.Config{BackupTimeout: -time.Second}},
		{"OperationTimeout", core.Config{OperationTimeout: -time.Second}},
		{"NodeRetryInterval", core.Config{NodeRetryInterval: -time.Second}},
		{"BackupWorkers", core.Config{BackupWorkers: -1}},
		{"MaxIdleConns", core.Config{MaxIdleConns: -1}},
		{"MaxSessionBytes", core.Config{MaxSessionBytes: -1}},
		{"MaxLifetime", core.Config{MaxLifetime: -time.Second}},
	}
	var missing []string
	for _, tc := range cases {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("core.New with a bad %s panicked: %v", tc.field, p)
				}
			}()
			m, err := core.New(tc.cfg)
			if err == nil {
				m.Close()
				t.Errorf("core.New accepted a bad %s: %+v", tc.field, tc.cfg)
				return
			}
			if m != nil {
				t.Errorf("core.New returned a Manager with the error %v", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				if tc.field == "Nodes" || tc.field == "FailoverNodes" {
					missing = append(missing, fmt.Sprintf("%s: %v", tc.field, err))
					return
				}
				t.Errorf("error for a bad %s does not name it: %v", tc.field, err)
			}
		}()
	}
	if len(missing) > 0 {
		t.Errorf("New does not name the field in node list errors: %q", missing)
	}
}

// goneFromMemcached reports whether memcached holds no session under key:
// nothing, or the tombstone core leaves in place of a dead session (bytes
// that start like an envelope header of format version 0, which no
// decoder accepts).
func goneFromMemcached(c *memcache.Client, key string) bool {
	it, err := c.Get(key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return true
	}
	return err == nil && strings.HasPrefix(string(it.Value), "MSM\x00")
}
