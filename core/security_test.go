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
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// The security tests of what reaches memcached: no client byte becomes a
// key, whatever the mode, prefix or hostile id (the id's life is tested in
// idlife_test.go, the cookie in cookie_test.go). docs/security.md refers
// to them.

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
