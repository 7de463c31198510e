package core_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/gomsm/msm/core"
)

// exampleApp is the little site of the examples below: it serves mux
// through m and returns a function that sends a GET with the cookies a
// browser would have kept.
func exampleApp(m *core.Manager, mux *http.ServeMux) func(path string) *http.Response {
	srv := m.Middleware(mux)
	var cookies []*http.Cookie
	return func(path string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if set := rec.Result().Cookies(); len(set) > 0 {
			cookies = set
		}
		return rec.Result()
	}
}

// "Keep me signed in": the session's cookie gets a Max-Age, renewed while
// the user is active; the others stay browser-session cookies.
func ExampleSession_SetPersist() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		s.RenewID()
		s.Set("user", "ann")
		s.SetPersist(r.URL.Query().Get("remember") == "on")
	})
	get := exampleApp(m, mux)
	for _, c := range get("/login?remember=on").Cookies() {
		fmt.Println(c.Name, "Max-Age:", c.MaxAge) // 30m idle timeout + 7.5m renewal interval
	}
	// Output:
	// sid Max-Age: 2250
}

// A flash message set before a redirect and shown once after it.
func ExampleSession_AddFlash() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/cart/add", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		s.AddFlash("added " + r.URL.Query().Get("item"))
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
	})
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		for _, f := range core.FromContext(r.Context()).Flashes() {
			fmt.Fprintln(w, f)
		}
	})
	get := exampleApp(m, mux)
	get("/cart/add?item=fig")
	get("/cart/add?item=pear")
	for _, path := range []string{"/cart", "/cart"} {
		body, _ := io.ReadAll(get(path).Body)
		fmt.Printf("%q\n", body)
	}
	// Output:
	// "added fig\nadded pear\n"
	// ""
}

// "Log out everywhere": the login ties each session to its user; one call
// ends them all, on every instance, and reports how many there were.
func ExampleManager_InvalidatePrincipal() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		s.RenewID() // against session fixation
		s.SetPrincipal(r.URL.Query().Get("user"))
	})
	for range 3 { // three browsers
		exampleApp(m, mux)("/login?user=ann")
	}
	exampleApp(m, mux)("/login?user=bob")

	ctx := context.Background()
	list, _ := m.SessionsOf(ctx, "ann")
	fmt.Println("ann has", len(list), "sessions")
	n, err := m.InvalidatePrincipal(ctx, "ann")
	fmt.Println("ended", n, err)
	list, _ = m.SessionsOf(ctx, "ann")
	fmt.Println("ann has", len(list), "sessions")
	list, _ = m.SessionsOf(ctx, "bob")
	fmt.Println("bob has", len(list), "session")
	// Output:
	// ann has 3 sessions
	// ended 3 <nil>
	// ann has 0 sessions
	// bob has 1 session
}

// An audit log of session events. OnEvent runs on a goroutine of its own:
// a slow audit sink never delays a request.
func ExampleConfig_onEvent() {
	events := make(chan core.Event, 16)
	m, err := core.New(core.Config{
		Logger:  slog.New(slog.DiscardHandler),
		OnEvent: func(e core.Event) { events <- e },
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		s.SetPrincipal("ann")
		s.Invalidate()
	})
	exampleApp(m, mux)("/login")
	m.Close() // delivers the events queued before it
	close(events)
	for e := range events {
		fmt.Printf("%s %q\n", e.Kind, e.Principal)
	}
	// Output:
	// created ""
	// invalidated "ann"
}

// Serve is the request cycle for code that has its next handler only per
// request, as a framework adapter does (ginmsm and echomsm use it): no
// Middleware and no handler are built for each request.
func ExampleManager_Serve() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	visit := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		fmt.Fprint(w, n)
	})
	var cookies []*http.Cookie
	for range 2 {
		req := httptest.NewRequest("GET", "/", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		m.Serve(rec, req, visit) // what an adapter calls with its chain
		if set := rec.Result().Cookies(); len(set) > 0 {
			cookies = set
		}
		fmt.Println("visits:", rec.Body.String())
	}
	// Output:
	// visits: 1
	// visits: 2
}
