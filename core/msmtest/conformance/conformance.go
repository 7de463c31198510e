package conformance

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Handler is the body of one route of the suite: s is the session the
// adapter's accessor returned for the request, w and r are the framework's
// own response writer and request (gin's c.Writer and c.Request, echo's
// c.Response() and c.Request(), ...).
type Handler func(s *core.Session, w http.ResponseWriter, r *http.Request)

// Routes maps the suite's paths (exact paths, no parameters) to their
// handlers. Every path is requested with GET.
type Routes map[string]Handler

// NewServer builds one instance of a web app in the adapter's framework:
// it mounts the adapter's middleware for m, registers every path of routes
// as a GET route whose native handler gets its session through the
// adapter's accessor and calls the route's Handler with it, and sets up the
// framework's panic recovery if it has one. The suite serves the result
// with httptest, behind a net/http recover wrapper of its own.
type NewServer func(t *testing.T, m *core.Manager, routes Routes) http.Handler

// Run runs every scenario of the suite, each as a parallel subtest with
// its own memcached processes, Managers and servers built by newServer.
func Run(t *testing.T, newServer NewServer) {
	modes := []struct {
		name      string
		nonSticky bool
		scenarios []scenario
	}{
		{"sticky", false, stickyScenarios},
		{"nonsticky", true, nonStickyScenarios},
	}
	for _, mode := range modes {
		if len(mode.scenarios) == 0 {
			continue
		}
		t.Run(mode.name, func(t *testing.T) {
			for _, sc := range mode.scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					e := &env{t: t, newServer: newServer, nonSticky: mode.nonSticky}
					e.mcs = msmtest.StartN(t, max(sc.nodes, 1))
					sc.run(t, e)
				})
			}
		})
	}
}

// scenario is one subtest of the suite.
type scenario struct {
	name  string
	nodes int // memcached nodes to start; 0 means 1
	run   func(t *testing.T, e *env)
}

// env is what a scenario works with: its memcached nodes and a way to start
// instances of the adapter's framework on them.
type env struct {
	t         *testing.T
	newServer NewServer
	nonSticky bool
	mcs       []*msmtest.Server
	// release lets the streaming handler go on after its first chunk.
	release chan struct{}
}

// instance is one web app instance: a Manager behind the adapter's server.
type instance struct {
	m   *core.Manager
	srv *httptest.Server
}

// config is the suite's Manager configuration: every node of the scenario,
// synchronous backups (so a response means the backup is in memcached),
// timeouts of seconds (so that a busy machine never makes a healthy node
// look dead) and a silent logger.
func (e *env) config() core.Config {
	var nodes []string
	for i, mc := range e.mcs {
		nodes = append(nodes, nodeID(i)+":"+mc.Addr())
	}
	return core.Config{
		Nodes:         strings.Join(nodes, ","),
		NonSticky:     e.nonSticky,
		SyncBackup:    true,
		BackupTimeout: 30 * time.Second,
		// The suite never stops a node: a healthy one gets seconds.
		OperationTimeout: 10 * time.Second,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func nodeID(i int) string { return "n" + string(rune('1'+i)) }

// start starts an instance with the suite's configuration, changed by mod
// if not nil. It is stopped when the test ends.
func (e *env) start(mod func(*core.Config)) *instance {
	e.t.Helper()
	cfg := e.config()
	if mod != nil {
		mod(&cfg)
	}
	m, err := core.New(cfg)
	if err != nil {
		e.t.Fatalf("core.New: %v", err)
	}
	e.t.Cleanup(func() { m.Close() })
	srv := httptest.NewServer(recoverer(e.newServer(e.t, m, e.routes())))
	e.t.Cleanup(srv.Close)
	return &instance{m: m, srv: srv}
}

// stop stops an instance, as if its process died.
func (inst *instance) stop() {
	inst.srv.Close()
	inst.m.Close()
}

// recoverer answers 500 to a panic that the framework let through, so the
// scenario sees the same response with or without a framework recovery.
func recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// counters adds up the counters of every node of the scenario.
func (e *env) counters() msmtest.Counters {
	var sum msmtest.Counters
	for _, mc := range e.mcs {
		c := mc.Counters()
		sum.Get += c.Get
		sum.Set += c.Set
		sum.Touch += c.Touch
		sum.Delete += c.Delete
	}
	return sum
}

// traffic returns the memcached commands sent since before.
func (e *env) traffic(before msmtest.Counters) msmtest.Counters {
	now := e.counters()
	return msmtest.Counters{
		Get: now.Get - before.Get, Set: now.Set - before.Set,
		Touch: now.Touch - before.Touch, Delete: now.Delete - before.Delete,
	}
}

// noTraffic fails the test if memcached saw any command since before.
func (e *env) noTraffic(what string, before msmtest.Counters) {
	e.t.Helper()
	if d := e.traffic(before); d != (msmtest.Counters{}) {
		e.t.Errorf("%s cost memcached traffic: %d gets, %d sets, %d touches, %d deletes; want none",
			what, d.Get, d.Set, d.Touch, d.Delete)
	}
}

// stored returns the attribute key of the session with this id as memcached
// holds it, decoded as a string, and whether memcached holds the session.
// Bytes that are no session envelope (core may leave a tombstone where it
// invalidated a session) count as no session: no instance would load them.
func (e *env) stored(id, key string) (value string, ok bool) {
	e.t.Helper()
	if id == "" {
		return "", false
	}
	mkey, _, _ := strings.Cut(id, ".") // the route is not part of the key
	for _, mc := range e.mcs {
		c := memcache.New(mc.Addr())
		c.Timeout = 10 * time.Second
		item, err := c.Get(mkey)
		c.Close()
		if errors.Is(err, memcache.ErrCacheMiss) {
			continue
		}
		if err != nil {
			e.t.Fatalf("memcached get %s: %v", mc.Addr(), err)
		}
		env, err := codec.DecodeEnvelope(item.Value)
		if err != nil {
			return "", false
		}
		if b, has := env.Attributes[key]; has {
			if err := codec.CBOR.Unmarshal(b, &value); err != nil {
				e.t.Fatalf("attribute %q in memcached: %v", key, err)
			}
		}
		return value, true
	}
	return "", false
}

// browser is an HTTP client with a cookie jar that treats every instance
// as one site, as a load balancer in front of them would.
type browser struct {
	t    *testing.T
	jar  *cookiejar.Jar
	hc   *http.Client
	site *url.URL
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	site, _ := url.Parse("http://app.test/")
	return &browser{t: e.t, jar: jar, hc: &http.Client{Timeout: time.Minute}, site: site}
}

// open sends GET path to inst with the browser's cookies and keeps the
// cookies the response sets. The caller reads and closes the body.
func (b *browser) open(inst *instance, path string) *http.Response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, inst.srv.URL+path, nil)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	for _, c := range b.jar.Cookies(b.site) {
		req.AddCookie(c)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	b.jar.SetCookies(b.site, resp.Cookies())
	return resp
}

// get sends GET path to inst and returns the body and the response.
func (b *browser) get(inst *instance, path string) (string, *http.Response) {
	b.t.Helper()
	resp := b.open(inst, path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return string(body), resp
}

// expect sends GET path to inst and fails the test unless the body is want.
func (b *browser) expect(inst *instance, path, want string) *http.Response {
	b.t.Helper()
	got, resp := b.get(inst, path)
	if got != want {
		b.t.Errorf("GET %s = %q (status %d), want %q", path, got, resp.StatusCode, want)
	}
	return resp
}

// sid returns the session id the browser holds, "" if none.
func (b *browser) sid() string {
	for _, c := range b.jar.Cookies(b.site) {
		if c.Name == core.DefaultCookieName {
			return c.Value
		}
	}
	return ""
}

// setSID makes the browser send id as its session cookie.
func (b *browser) setSID(id string) {
	b.jar.SetCookies(b.site, []*http.Cookie{{Name: core.DefaultCookieName, Value: id, Path: "/"}})
}

// sessionCookie returns the session cookie that resp sets, nil if none.
func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == core.DefaultCookieName {
			return c
		}
	}
	return nil
}
