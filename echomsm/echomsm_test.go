package echomsm_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest/conformance"
	"github.com/gomsm/msm/echomsm"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.Logger.SetOutput(io.Discard)
	return e
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, m *core.Manager, routes conformance.Routes) http.Handler {
		e := newEcho()
		e.Use(middleware.Recover(), echomsm.Middleware(m))
		for path, h := range routes {
			e.GET(path, func(c echo.Context) error {
				h(echomsm.Session(c), c.Response(), c.Request())
				return nil
			})
		}
		return e
	})
}

// localEcho returns an echo and a local-only Manager.
func localEcho(t *testing.T) (*echo.Echo, *core.Manager) {
	t.Helper()
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return newEcho(), m
}

// get serves h on a real server and returns the response to GET path,
// with its body.
func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, string(body)
}

// Every way echo writes a response sends the cookie; echo's Response
// (status, size, Before hooks) works as without sessions; a returned error
// is answered by echo's error handler with the cookie.
func TestEchoWriters(t *testing.T) {
	e, m := localEcho(t)
	var status int
	var size int64
	var hooked bool
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Before(func() { hooked = true })
			err := next(c)
			status, size = c.Response().Status, c.Response().Size
			return err
		}
	}, echomsm.Middleware(m))
	set := func(c echo.Context) { echomsm.Session(c).Set("k", "v") }
	e.GET("/json", func(c echo.Context) error {
		set(c)
		return c.JSON(http.StatusCreated, map[string]bool{"ok": true})
	})
	e.GET("/nocontent", func(c echo.Context) error {
		set(c)
		return c.NoContent(http.StatusNoContent)
	})
	e.GET("/stream", func(c echo.Context) error {
		set(c)
		return c.Stream(http.StatusOK, "text/plain", strings.NewReader("1;2;3;"))
	})
	e.GET("/error", func(c echo.Context) error {
		set(c)
		return echo.NewHTTPError(http.StatusForbidden, "no")
	})
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/json", http.StatusCreated, "{\"ok\":true}\n"},
		{"/nocontent", http.StatusNoContent, ""},
		{"/stream", http.StatusOK, "1;2;3;"},
		{"/error", http.StatusForbidden, "{\"message\":\"no\"}\n"},
	} {
		hooked, status, size = false, 0, 0
		resp, body := get(t, e, tc.path)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if !strings.HasPrefix(resp.Header.Get("Set-Cookie"), core.DefaultCookieName+"=") {
			t.Errorf("%s: no session cookie; headers %v", tc.path, resp.Header)
		}
		if tc.path == "/error" {
			continue // written by the error handler after the middlewares
		}
		if !hooked || status != tc.status || size != int64(len(tc.body)) {
			t.Errorf("%s: echo's Response says hook %v, status %d, size %d; want true %d %d",
				tc.path, hooked, status, size, tc.status, len(tc.body))
		}
	}
}

// A panic reaches echo's recovery, whose error page carries no session
// cookie: the panicking request's session is not kept.
func TestPanicReachesRecovery(t *testing.T) {
	e, m := localEcho(t)
	var recovered error
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			recovered = err
			return err
		},
	}), echomsm.Middleware(m))
	e.GET("/panic", func(c echo.Context) error {
		echomsm.Session(c).Set("k", "v")
		panic(errors.New("boom"))
	})
	resp, _ := get(t, e, "/panic")
	if recovered == nil || recovered.Error() != "boom" || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("recovery saw %v, status %d", recovered, resp.StatusCode)
	}
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("a panicking request sent Set-Cookie %q", c)
	}
}

func TestSessionWithoutMiddleware(t *testing.T) {
	e := newEcho()
	var s *core.Session
	e.GET("/", func(c echo.Context) error { s = echomsm.Session(c); return nil })
	get(t, e, "/")
	if s != nil {
		t.Errorf("Session without the middleware = %v, want nil", s)
	}
}
