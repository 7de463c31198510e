package ginmsm_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest/conformance"
	"github.com/gomsm/msm/ginmsm"
)

func init() { gin.SetMode(gin.TestMode) }

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, m *core.Manager, routes conformance.Routes) http.Handler {
		r := gin.New()
		r.Use(gin.RecoveryWithWriter(io.Discard), ginmsm.Middleware(m))
		for path, h := range routes {
			r.GET(path, func(c *gin.Context) { h(ginmsm.Session(c), c.Writer, c.Request) })
		}
		return r
	})
}

// localEngine returns an engine and a local-only Manager.
func localEngine(t *testing.T) (*gin.Engine, *core.Manager) {
	t.Helper()
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return gin.New(), m
}

// get serves h on a real server (gin's streaming needs one) and returns
// the response to GET path, with its body.
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

// Every way gin writes a response sends the cookie, and gin's bookkeeping
// (status, size) stays right for the middlewares before the session's.
func TestGinWriters(t *testing.T) {
	r, m := localEngine(t)
	var status, size int
	r.Use(func(c *gin.Context) {
		c.Next()
		status, size = c.Writer.Status(), c.Writer.Size()
	}, ginmsm.Middleware(m))
	r.GET("/json", func(c *gin.Context) {
		ginmsm.Session(c).Set("k", "v")
		c.JSON(http.StatusCreated, gin.H{"ok": true})
	})
	r.GET("/status", func(c *gin.Context) {
		ginmsm.Session(c).Set("k", "v")
		c.Status(http.StatusNoContent)
	})
	r.GET("/now", func(c *gin.Context) {
		ginmsm.Session(c).Set("k", "v")
		c.Writer.WriteHeader(http.StatusAccepted)
		c.Writer.WriteHeaderNow()
	})
	r.GET("/string", func(c *gin.Context) {
		ginmsm.Session(c).Set("k", "v")
		c.Writer.WriteString("plain")
	})
	r.GET("/stream", func(c *gin.Context) {
		ginmsm.Session(c).Set("k", "v")
		n := 0
		c.Stream(func(w io.Writer) bool {
			n++
			fmt.Fprintf(w, "%d;", n)
			return n < 3
		})
	})
	for _, tc := range []struct {
		path   string
		status int
		body   string
		size   int // gin's Size: -1 while nothing was written
	}{
		{"/json", http.StatusCreated, `{"ok":true}`, 11},
		{"/status", http.StatusNoContent, "", -1},
		{"/now", http.StatusAccepted, "", 0},
		{"/string", http.StatusOK, "plain", 5},
		{"/stream", http.StatusOK, "1;2;3;", 6},
	} {
		resp, body := get(t, r, tc.path)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if !strings.HasPrefix(resp.Header.Get("Set-Cookie"), core.DefaultCookieName+"=") {
			t.Errorf("%s: no session cookie; headers %v", tc.path, resp.Header)
		}
		if status != tc.status || size != tc.size {
			t.Errorf("%s: gin's writer says status %d size %d, want %d %d", tc.path, status, size, tc.status, tc.size)
		}
	}
}

// A panic reaches gin's recovery, which writes its own page with no
// session cookie: the panicking request's session is not kept.
func TestPanicReachesRecovery(t *testing.T) {
	r, m := localEngine(t)
	var recovered any
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, err any) {
		recovered = err
		c.String(http.StatusInternalServerError, "recovered")
	}), ginmsm.Middleware(m))
	r.GET("/panic", func(c *gin.Context) {
		ginmsm.Session(c).Set("k", "v")
		panic("boom")
	})
	resp, body := get(t, r, "/panic")
	if recovered != "boom" || resp.StatusCode != http.StatusInternalServerError || body != "recovered" {
		t.Errorf("recovery saw %v, response %d %q", recovered, resp.StatusCode, body)
	}
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("a panicking request sent Set-Cookie %q", c)
	}
}

func TestSessionWithoutMiddleware(t *testing.T) {
	r := gin.New()
	var s *core.Session
	r.GET("/", func(c *gin.Context) { s = ginmsm.Session(c) })
	get(t, r, "/")
	if s != nil {
		t.Errorf("Session without the middleware = %v, want nil", s)
	}
}
