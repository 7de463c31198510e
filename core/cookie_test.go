package core_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
)

// Tests of the session cookie (cookie.go): its attributes in every
// configuration, over HTTP and HTTPS.

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
