package core_test

import (
	"net/http"
	"testing"

	"github.com/gomsm/msm/core"
)

// TestHijackedReplySendsNoCookie: a handler that takes the connection over
// (websockets) ends the reply: the middleware writes nothing more to it,
// and a session created by the request counts as a cookie that came too
// late (it goes out with the next response).
func TestHijackedReplySendsNoCookie(t *testing.T) {
	t.Parallel()
	a := start(t, core.Config{}, routes{
		"/hijack": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Set("user", "ann")
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			buf.Flush()
		},
	})
	body, resp := newBrowser(t).get(a, "/hijack")
	if body != "hijacked" {
		t.Fatalf("body %q, want the hijacker's", body)
	}
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		t.Errorf("a hijacked reply carries Set-Cookie %q", c)
	}
	waitFor(t, effectWait, "the late cookie to be counted", func() bool { return a.m.Stats().LateCookies == 1 })
}
