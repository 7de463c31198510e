package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	"github.com/gin-contrib/sessions/memcached"
	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/ginmsm"
)

// Every system under test serves the same three routes on its own session
// mechanism:
//
//	GET /setup?u=<user>  creates the session: 10 attributes of 100 bytes
//	GET /read            reads the 10 attributes, answers the value of "v"
//	GET /write?v=<n>     sets "v" to padV(n) and answers it
//
// A virtual user checks that every answer of /read is what its last
// /write stored: its own last write, on its own session.
const (
	attrCount = 10  // attributes per session: a0..a8 and v
	attrBytes = 100 // bytes of each attribute value
	// hashKey authenticates the cookies of gorilla-based stores.
	hashKey = "bench-hash-key-0123456789abcdef!"
)

var attrNames = func() []string {
	names := make([]string, attrCount-1)
	for i := range names {
		names[i] = "a" + strconv.Itoa(i)
	}
	return names
}()

// attrValue is attribute i of user u's session: 100 bytes.
func attrValue(u string, i int) string {
	return pad(u + "-a" + strconv.Itoa(i) + "-")
}

// padV is the stored form of write number n: 100 bytes.
func padV(n string) string { return pad(n + ":") }

func pad(s string) string {
	if len(s) >= attrBytes {
		return s[:attrBytes]
	}
	return s + strings.Repeat("x", attrBytes-len(s))
}

// kv is the part of a session API that the routes use.
type kv interface {
	Get(key string) string
	Set(key, val string)
	Save() error
}

// system is one system under test.
type system struct {
	name string // as shown in the table
	slug string // short name for -systems and profile files
	// sessions is false for the bare baselines: no session, no check.
	sessions bool
	handler  http.Handler
	// manager is gomsm's, nil for the others; quiesce waits for its
	// asynchronous backups.
	manager *core.Manager
	close   func()
}

// quiesce waits until the system's asynchronous work is done, so that
// memcached's counters hold everything the requests so far caused.
func (s *system) quiesce() {
	if s.manager == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.manager.Stats().BackupQueue > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the job a worker has taken off the queue
}

// allSlugs lists the systems in table order.
var allSlugs = []string{"bare", "sticky", "ns-none", "ns-auto", "ns-all", "mc-floor", "contrib-mc", "scs-mem", "contrib-cookie", "nethttp-bare"}

// buildSystem returns the system named slug, using the memcached servers
// in mc.
func buildSystem(slug string, mc []string) (*system, error) {
	switch slug {
	case "bare":
		return &system{name: "gin, no sessions (bare)", slug: slug, handler: bareGin(), close: func() {}}, nil
	case "nethttp-bare":
		return &system{name: "net/http, no sessions", slug: slug, handler: bareNetHTTP(), close: func() {}}, nil
	case "sticky":
		return gomsmSystem(slug, "gin + gomsm sticky", core.Config{Nodes: nodeList(mc)})
	case "ns-none":
		return gomsmSystem(slug, "gin + gomsm non-sticky, locking none", core.Config{Nodes: nodeList(mc), NonSticky: true, LockingMode: core.LockNone})
	case "ns-auto":
		return gomsmSystem(slug, "gin + gomsm non-sticky, locking auto", core.Config{Nodes: nodeList(mc), NonSticky: true, LockingMode: core.LockAuto})
	case "ns-all":
		return gomsmSystem(slug, "gin + gomsm non-sticky, locking all", core.Config{Nodes: nodeList(mc), NonSticky: true, LockingMode: core.LockAll})
	case "mc-floor":
		client := benchClient(mc)
		return &system{name: "gin + one memcached get per read, one set per write (floor)", slug: slug, sessions: true,
			handler: floorGin(client), close: func() { client.Close() }}, nil
	case "contrib-mc":
		// gomemcache keeps 2 idle connections per server by default, which
		// makes 50 users dial and close a connection per request; gomsm
		// sizes its pool to 64. Same pool, same timeout, for a fair race.
		client := benchClient(mc)
		store := memcached.NewStore(client, "gcs:", []byte(hashKey))
		store.Options(sessions.Options{Path: "/", MaxAge: 1800, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return &system{name: "gin + gin-contrib/sessions memcached", slug: slug, sessions: true,
			handler: contribGin(store), close: func() { client.Close() }}, nil
	case "contrib-cookie":
		store := cookie.NewStore([]byte(hashKey))
		store.Options(sessions.Options{Path: "/", MaxAge: 1800, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return &system{name: "gin + gin-contrib/sessions cookie (gorilla)", slug: slug, sessions: true,
			handler: contribGin(store), close: func() {}}, nil
	case "scs-mem":
		store := memstore.New()
		sm := scs.New()
		sm.Store = store
		sm.Lifetime = 30 * time.Minute
		mux := http.NewServeMux()
		routes(mux.HandleFunc, func(r *http.Request) scsKV { return scsKV{sm, r.Context()} })
		return &system{name: "net/http + scs memstore", slug: slug, sessions: true,
			handler: sm.LoadAndSave(mux), close: store.StopCleanup}, nil
	}
	return nil, fmt.Errorf("unknown system %q (known: %s)", slug, strings.Join(allSlugs, ", "))
}

// nodeList is gomsm's Nodes for the servers in mc: n1, n2, ...
func nodeList(mc []string) string {
	nodes := make([]string, len(mc))
	for i, a := range mc {
		nodes[i] = "n" + strconv.Itoa(i+1) + ":" + a
	}
	return strings.Join(nodes, ",")
}

func gomsmSystem(slug, name string, cfg core.Config) (*system, error) {
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := core.New(cfg)
	if err != nil {
		return nil, err
	}
	r := newGin()
	r.Use(ginmsm.Middleware(m))
	ginRoutes(r, func(c *gin.Context) msmKV { return msmKV{ginmsm.Session(c)} })
	return &system{name: name, slug: slug, sessions: true, handler: r, manager: m, close: func() { m.Close() }}, nil
}

func newGin() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	return gin.New() // no logger, no recovery: the same chain for every gin system
}

func contribGin(store sessions.Store) http.Handler {
	r := newGin()
	r.Use(sessions.Sessions("sid", store))
	ginRoutes(r, func(c *gin.Context) contribKV { return contribKV{sessions.Default(c)} })
	return r
}

// ginRoutes mounts the three routes on r, with sess giving a request's
// session.
func ginRoutes[K kv](r *gin.Engine, sess func(*gin.Context) K) {
	r.GET("/setup", func(c *gin.Context) { serveSetup(c.Writer, c.Request, sess(c)) })
	r.GET("/read", func(c *gin.Context) { serveRead(c.Writer, sess(c)) })
	r.GET("/write", func(c *gin.Context) { serveWrite(c.Writer, c.Request, sess(c)) })
}

// routes mounts the three routes with a net/http style handle function.
func routes[K kv](handle func(string, func(http.ResponseWriter, *http.Request)), sess func(*http.Request) K) {
	handle("GET /setup", func(w http.ResponseWriter, r *http.Request) { serveSetup(w, r, sess(r)) })
	handle("GET /read", func(w http.ResponseWriter, r *http.Request) { serveRead(w, sess(r)) })
	handle("GET /write", func(w http.ResponseWriter, r *http.Request) { serveWrite(w, r, sess(r)) })
}

func serveSetup[K kv](w http.ResponseWriter, r *http.Request, s K) {
	u := r.URL.Query().Get("u")
	for i, name := range attrNames {
		s.Set(name, attrValue(u, i))
	}
	v := padV("0")
	s.Set("v", v)
	respond(w, v, s.Save())
}

func serveRead[K kv](w http.ResponseWriter, s K) {
	for _, name := range attrNames {
		if len(s.Get(name)) != attrBytes {
			http.Error(w, "attribute "+name+" lost", http.StatusInternalServerError)
			return
		}
	}
	respond(w, s.Get("v"), nil)
}

func serveWrite[K kv](w http.ResponseWriter, r *http.Request, s K) {
	v := padV(r.URL.Query().Get("v"))
	s.Set("v", v)
	respond(w, v, s.Save())
}

func respond(w http.ResponseWriter, body string, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, body)
}

// The bare baselines answer bodies of the same size, with no session. Their
// /setup sets a cookie of the size of gomsm's, so that their users' cookie
// jars and requests do the same work as the others'.
var bareBody = padV("bare")

var bareCookie = &http.Cookie{Name: "sid", Value: "0123456789abcdef0123456789abcdef-n1", Path: "/",
	HttpOnly: true, SameSite: http.SameSiteLaxMode}

func bareSetup(w http.ResponseWriter) {
	http.SetCookie(w, bareCookie)
	respond(w, bareBody, nil)
}

func bareGin() http.Handler {
	r := newGin()
	r.GET("/setup", func(c *gin.Context) { bareSetup(c.Writer) })
	r.GET("/read", func(c *gin.Context) { respond(c.Writer, bareBody, nil) })
	r.GET("/write", func(c *gin.Context) { respond(c.Writer, padV(c.Query("v")), nil) })
	return r
}

func bareNetHTTP() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /setup", func(w http.ResponseWriter, r *http.Request) { bareSetup(w) })
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) { respond(w, bareBody, nil) })
	mux.HandleFunc("GET /write", func(w http.ResponseWriter, r *http.Request) {
		respond(w, padV(r.URL.Query().Get("v")), nil)
	})
	return mux
}

// msmKV is gomsm's session as a kv.
type msmKV struct{ s *core.Session }

func (k msmKV) Get(key string) string { return k.s.GetString(key) }
func (k msmKV) Set(key, val string)   { k.s.Set(key, val) }
func (k msmKV) Save() error           { return nil } // the middleware saves

// contribKV is gin-contrib/sessions' session as a kv.
type contribKV struct{ s sessions.Session }

func (k contribKV) Get(key string) string { v, _ := k.s.Get(key).(string); return v }
func (k contribKV) Set(key, val string)   { k.s.Set(key, val) }
func (k contribKV) Save() error           { return k.s.Save() }

// scsKV is scs's session as a kv.
type scsKV struct {
	sm  *scs.SessionManager
	ctx context.Context
}

func (k scsKV) Get(key string) string { return k.sm.GetString(k.ctx, key) }
func (k scsKV) Set(key, val string)   { k.sm.Put(k.ctx, key, val) }
func (k scsKV) Save() error           { return nil } // LoadAndSave commits
