package conformance

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gomsm/msm/core"
)

// shoppingCart is a struct attribute: it must round trip through
// memcached, read with core.GetAs on another instance.
type shoppingCart struct {
	Items []string
	Owner cartOwner
}

// cartOwner is nested in shoppingCart.
type cartOwner struct{ Name string }

// ignorePattern is the IgnorePattern of the scenario on ignored paths.
const ignorePattern = "^/static/"

// none is the body of a read that found nothing.
const none = "<none>"

// routes returns the suite's routes. Each writes a short plain-text body.
func (e *env) routes() Routes {
	rt := e.baseRoutes()
	for path, h := range featureRoutes() {
		rt[path] = h
	}
	return rt
}

// baseRoutes are the routes of the scenarios of scenarios.go.
// Longer than 50 lines: a table of small handlers, one per route.
func (e *env) baseRoutes() Routes {
	return Routes{
		// /get?k=KEY reads an attribute.
		"/get": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			v, ok := s.Get(r.URL.Query().Get("k"))
			if !ok {
				fmt.Fprint(w, none)
				return
			}
			fmt.Fprint(w, v)
		},
		// /set?KEY=VALUE&... stores attributes.
		"/set": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			for k, v := range r.URL.Query() {
				s.Set(k, v[0])
			}
			fmt.Fprint(w, "ok")
		},
		// /same tells whether the accessor gave the request's own session.
		"/same": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			switch {
			case s == nil:
				fmt.Fprint(w, "accessor returned nil")
			case s != core.FromContext(r.Context()):
				fmt.Fprint(w, "accessor returned another session than core.FromContext(r.Context())")
			default:
				fmt.Fprint(w, "same")
			}
		},
		"/map/put": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Set("m", map[string]int{"n": 1})
			fmt.Fprint(w, "ok")
		},
		// /map/read reads the map with Get and leaves it as it is.
		"/map/read": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			v, _ := s.Get("m")
			fmt.Fprint(w, v)
		},
		// /map/inc changes the map read with Get in place, without Set. The
		// map is the map[string]int that was set, or the codec's generic
		// map when the session was loaded from memcached (non-sticky mode).
		"/map/inc": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			v, _ := s.Get("m")
			switch m := v.(type) {
			case map[string]int:
				m["n"]++
				fmt.Fprint(w, m["n"])
			case map[string]any:
				n, err := strconv.Atoi(fmt.Sprint(m["n"]))
				if err != nil {
					fmt.Fprintf(w, "m[n] is a %T", m["n"])
					return
				}
				m["n"] = n + 1
				fmt.Fprint(w, m["n"])
			default:
				fmt.Fprintf(w, "m is a %T", v)
			}
		},
		"/map/get": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			m, err := core.GetAs[map[string]int](s, "m")
			if err != nil {
				fmt.Fprint(w, err)
				return
			}
			fmt.Fprint(w, m["n"])
		},
		"/login": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.RenewID()
			fmt.Fprint(w, "ok")
		},
		"/logout": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Invalidate()
			fmt.Fprint(w, "ok")
		},
		// /write-first writes its body with no WriteHeader before.
		"/write-first": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Set("k", "written")
			w.Write([]byte("body"))
		},
		// /header-first sets a status, then writes.
		"/header-first": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Set("k", "created")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("body"))
		},
		// /stream sends a chunk, flushes, waits until the client has it
		// (e.release), then sends another.
		"/stream": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Set("k", "streamed")
			fmt.Fprint(w, "chunk 1\n")
			if err := http.NewResponseController(w).Flush(); err != nil {
				fmt.Fprintf(w, "flush: %v\n", err)
				return
			}
			select {
			case <-e.release:
				fmt.Fprint(w, "chunk 2\n")
			case <-time.After(5 * time.Second):
				fmt.Fprint(w, "chunk 1 did not reach the client before the handler ended\n")
			}
		},
		// /panic changes the session, then panics.
		"/panic": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Set("k", "half-done")
			panic("conformance: deliberate panic in a handler")
		},
		// /static/file is on an ignored path: its session must be inert.
		"/static/file": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			if s == nil {
				fmt.Fprint(w, "accessor returned nil")
				return
			}
			v, ok := s.Get("k")
			if p := catch(func() { s.Set("k", "static") }); p != nil {
				fmt.Fprintf(w, "Session.Set panicked: %v", p)
				return
			}
			fmt.Fprintf(w, "%v %v %q", v, ok, s.ID())
		},
		"/cart/add": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			cart, err := core.GetAs[shoppingCart](s, "cart")
			if err != nil && !errors.Is(err, core.ErrNoAttribute) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			cart.Items = append(cart.Items, r.URL.Query().Get("item"))
			cart.Owner.Name = "ann"
			s.Set("cart", cart)
			fmt.Fprint(w, len(cart.Items))
		},
		// slowinc is a read-modify-write with a window in the middle, where
		// an unserialised concurrent request would interleave.
		"/slowinc": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			n := s.GetInt("n")
			time.Sleep(3 * time.Millisecond)
			s.Set("n", n+1)
			fmt.Fprint(w, n+1)
		},
		"/cart": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			cart, err := core.GetAs[shoppingCart](s, "cart")
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			fmt.Fprintf(w, "%s|%s", strings.Join(cart.Items, ","), cart.Owner.Name)
		},
	}
}

// catch runs f and returns what it panicked with, nil if it did not.
func catch(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}
