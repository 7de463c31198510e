package chimsm_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/gomsm/msm/chimsm"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, m *core.Manager, routes conformance.Routes) http.Handler {
		r := chi.NewRouter()
		r.Use(middleware.Recoverer, chimsm.Middleware(m))
		for path, h := range routes {
			r.Get(path, func(w http.ResponseWriter, r *http.Request) { h(chimsm.Session(r), w, r) })
		}
		return r
	})
}

// get sends GET path to h with an optional cookie and returns the response
// and its body.
func get(t *testing.T, h http.Handler, path string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestRoutePattern(t *testing.T) {
	r := chi.NewRouter()
	var got string
	pattern := func(w http.ResponseWriter, r *http.Request) { got = chimsm.RoutePattern(r) }
	r.Get("/users/{id}", pattern)
	r.Route("/api", func(r chi.Router) {
		r.Get("/items/{id}", pattern)
		r.Mount("/v2", http.HandlerFunc(pattern))
	})
	for path, want := range map[string]string{
		"/users/7":     "/users/{id}",
		"/api/items/9": "/api/items/{id}",
		"/api/v2/x":    "/api/v2/*",
	} {
		got = "<not called>"
		get(t, r, path)
		if got != want {
			t.Errorf("RoutePattern for %s = %q, want %q", path, got, want)
		}
	}
	if p := chimsm.RoutePattern(httptest.NewRequest(http.MethodGet, "/users/7", nil)); p != "" {
		t.Errorf("RoutePattern of a request chi did not route = %q, want \"\"", p)
	}
}

// IgnorePattern matches chi's route pattern when Config.RoutePattern is
// chimsm.RoutePattern, in the router and in a sub-router: the handler's
// session is inert and the client's session is left as it was.
func TestIgnoreByRoutePattern(t *testing.T) {
	m, err := core.New(core.Config{
		IgnorePattern: `^/files/\{name\}$|^/api/items/\{id\}$`,
		RoutePattern:  chimsm.RoutePattern,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := chi.NewRouter()
	r.Use(middleware.Recoverer, chimsm.Middleware(m))
	use := func(w http.ResponseWriter, r *http.Request) {
		s := chimsm.Session(r)
		v, ok := s.Get("k")
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintf(w, "Session.Set panicked: %v", p)
			}
		}()
		s.Set("k", "changed")
		fmt.Fprintf(w, "%v %v %q", v, ok, s.ID())
	}
	r.Get("/files/{name}", use)
	r.Route("/api", func(r chi.Router) { r.Get("/items/{id}", use) })
	r.Get("/set", func(w http.ResponseWriter, r *http.Request) { chimsm.Session(r).Set("k", "v") })
	r.Get("/get", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, chimsm.Session(r).GetString("k")) })

	resp, _ := get(t, r, "/set")
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("/set sent cookies %v, want the session cookie", cookies)
	}
	for _, path := range []string{"/files/a.txt", "/api/items/9"} {
		resp, body := get(t, r, path, cookies...)
		if want := `<nil> false ""`; body != want {
			t.Errorf("%s: handler saw %q, want an inert session %q", path, body, want)
		}
		if c := resp.Header.Get("Set-Cookie"); c != "" {
			t.Errorf("%s: an ignored route sent Set-Cookie %q", path, c)
		}
		if _, body := get(t, r, "/get", cookies...); body != "v" {
			t.Errorf("after %s the session holds k = %q, want v", path, body)
		}
	}
	if st := m.Stats(); st.RequestsIgnored != 2 {
		t.Errorf("Stats().RequestsIgnored = %d, want 2", st.RequestsIgnored)
	}
}
