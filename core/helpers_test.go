package core_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Cart is a struct attribute, to check that struct types round trip
// through memcached (GetAs on another instance).
type Cart struct {
	Items []string
	Total int
	Owner Owner
}

// Owner is nested in Cart.
type Owner struct{ Name string }

// instance is one "web app instance": a Manager behind a real HTTP server.
type instance struct {
	m   *core.Manager
	srv *httptest.Server
}

// handlerFunc is a test handler that gets the request's session.
type handlerFunc func(s *core.Session, w http.ResponseWriter, r *http.Request)

// routes maps paths to test handlers.
type routes map[string]handlerFunc

func (rt routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := rt[r.URL.Path]
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(core.FromContext(r.Context()), w, r)
}

// Test timeouts for healthy nodes: seconds, so that a starved CPU (several
// suites at once on two cores, the race detector) never makes a healthy
// node look dead or a synchronous backup look timed out. Tests that need a
// node to look dead kill or pause (SIGSTOP) it.
const (
	testOperationTimeout = 10 * time.Second
	testBackupTimeout    = 30 * time.Second
	// hungTimeout is the OperationTimeout of tests that pause a node: each
	// wait on the paused node costs it, so it is shorter, but still long
	// enough for a healthy node on a busy machine.
	hungTimeout = 5 * time.Second
	// effectWait bounds how long a test polls for an asynchronous effect.
	effectWait = time.Minute
)

// start runs a Manager with cfg behind an httptest server serving rt. A
// zero OperationTimeout or BackupTimeout gets the test values above rather
// than the library defaults (1s and 100ms), which a busy machine exceeds.
func start(t testing.TB, cfg core.Config, rt http.Handler) *instance {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.OperationTimeout == 0 {
		cfg.OperationTimeout = testOperationTimeout
	}
	if cfg.BackupTimeout == 0 {
		cfg.BackupTimeout = testBackupTimeout
	}
	m, err := core.New(cfg)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	srv := httptest.NewServer(m.Middleware(rt))
	t.Cleanup(func() {
		srv.Close()
		m.Close()
	})
	return &instance{m: m, srv: srv}
}

// nodesOf formats servers as a Config.Nodes value with ids n1, n2, ...
func nodesOf(servers ...*msmtest.Server) string {
	var parts []string
	for i, s := range servers {
		parts = append(parts, "n"+string(rune('1'+i))+":"+s.Addr())
	}
	return strings.Join(parts, ",")
}

// browser is a client with its own cookie jar that can talk to several
// instances as if they were one site (a load balancer in front).
type browser struct {
	t   testing.TB
	jar *cookiejar.Jar
	hc  *http.Client
	// site is the URL the cookies belong to.
	site *url.URL
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	site, _ := url.Parse("http://app.test/")
	// A deadline, not a speed claim: a request on a busy machine (the
	// race detector, several suites at once) may take many seconds.
	return &browser{t: t, jar: jar, hc: &http.Client{Timeout: time.Minute}, site: site}
}

// get requests path on inst with the browser's cookie and keeps the
// cookie the response sets. It returns the body and the response.
func (b *browser) get(inst *instance, path string) (string, *http.Response) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", inst.srv.URL+path, nil)
	for _, c := range b.jar.Cookies(b.site) {
		req.AddCookie(c)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.jar.SetCookies(b.site, resp.Cookies())
	return string(body), resp
}

// sid returns the session cookie value the browser holds, "" if none.
func (b *browser) sid() string {
	for _, c := range b.jar.Cookies(b.site) {
		if c.Name == core.DefaultCookieName {
			return c.Value
		}
	}
	return ""
}

// setSID makes the browser send value as its session cookie.
func (b *browser) setSID(value string) {
	b.jar.SetCookies(b.site, []*http.Cookie{{Name: core.DefaultCookieName, Value: value, Path: "/"}})
}

// rawGet sends a request with a raw Cookie header written byte for byte on
// a TCP connection, so hostile values that http.Client refuses (CR, LF)
// reach the server as an attacker would send them.
func rawGet(t testing.TB, inst *instance, path, cookieHeader string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(inst.srv.URL, "http://"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	req := "GET " + path + " HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n"
	if cookieHeader != "" {
		req += "Cookie: " + cookieHeader + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	// The connection closes with this function: keep the body readable.
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logBuffer is a concurrency-safe buffer for a slog handler.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// browserOnNode returns a browser whose session, created by a request to
// path on inst, lives on the memcached node with that id.
func browserOnNode(t testing.TB, inst *instance, node, path string) *browser {
	t.Helper()
	for range 100 {
		br := newBrowser(t)
		br.get(inst, path)
		if nodeOfID(br.sid()) == node {
			return br
		}
	}
	t.Fatalf("no session landed on node %s in 100 tries", node)
	return nil
}

// mcClient returns a memcached client for s, for tests that read or write
// memcached directly, with a timeout of seconds: the client's default,
// 500 ms, is too short for a busy machine.
func mcClient(s *msmtest.Server) *memcache.Client {
	c := memcache.New(s.Addr())
	c.Timeout = testOperationTimeout
	return c
}

// hasKey reports, for waitFor, whether memcached server s holds key.
func hasKey(s *msmtest.Server, key string) func() bool {
	return func() bool {
		_, err := mcClient(s).Get(key)
		return err == nil
	}
}
