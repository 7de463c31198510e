package core_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// cacheRoutes: /page sets the caching headers the query asks for, then
// writes a session attribute (so a new session's cookie goes out);
// /logout invalidates after setting them.
func cacheRoutes() routes {
	headers := func(w http.ResponseWriter, r *http.Request) {
		for _, name := range []string{"Cache-Control", "CDN-Cache-Control", "Surrogate-Control"} {
			if v := r.URL.Query().Get(name); v != "" {
				w.Header().Set(name, v)
			}
		}
	}
	return routes{
		"/page": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			headers(w, r)
			s.Set("seen", true)
			fmt.Fprint(w, "page")
		},
		"/logout": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			headers(w, r)
			s.Invalidate()
			fmt.Fprint(w, "bye")
		},
	}
}

// getWith requests path on inst with the session id sid ("" for none) and
// extra request headers (name, value pairs).
func getWith(t *testing.T, inst *instance, path, sid string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", inst.srv.URL+path, nil)
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: sid})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestSetCookieResponsesAreNeverSharedCacheable: whatever caching headers
// the handler set, a response that carries a Set-Cookie (or the id header)
// is private: "public", "s-maxage" and a field-limited private go, a
// handler's no-store and browser max-age stay, and the CDN-only headers
// (which CDNs obey instead of Cache-Control) are removed. A response that
// sends no cookie keeps what the handler set.
func TestSetCookieResponsesAreNeverSharedCacheable(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true}
	inst := start(t, cfg, cacheRoutes())
	for _, tc := range []struct{ handler, want string }{
		{"", "private"},
		{"public, max-age=600", "private, max-age=600"},
		{"max-age=60, s-maxage=600", "private, max-age=60"},
		{"PUBLIC,S-MAXAGE=600", "private"},
		{"no-store", "no-store"},
		{"no-store, public", "no-store"},
		{"no-cache", "private, no-cache"},
		{`private="Set-Cookie, X-A", max-age=60`, "private, max-age=60"},
		{`no-cache="Set-Cookie, X-A", public`, `private, no-cache="Set-Cookie, X-A"`},
	} {
		q := "/page?Cache-Control=" + url.QueryEscape(tc.handler) + "&CDN-Cache-Control=max-age%3D600&Surrogate-Control=max-age%3D600"
		resp := getWith(t, inst, q, "")
		if len(resp.Header.Values("Set-Cookie")) != 1 {
			t.Fatalf("handler %q: no Set-Cookie", tc.handler)
		}
		if got := resp.Header.Values("Cache-Control"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("handler Cache-Control %q: response has %q, want %q", tc.handler, got, tc.want)
		}
		for _, h := range []string{"CDN-Cache-Control", "Surrogate-Control"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("handler Cache-Control %q: %s: %s kept next to a Set-Cookie", tc.handler, h, v)
			}
		}
	}

	// The client already has its id: no cookie goes out, the handler decides.
	resp := getWith(t, inst, "/page", "")
	sid := sessionCookie(resp)
	resp = getWith(t, inst, "/page?Cache-Control=public%2C+max-age%3D60", sid)
	if len(resp.Header.Values("Set-Cookie")) != 0 || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("no cookie sent: Cache-Control = %q, Set-Cookie = %q; want the handler's, none",
			resp.Header.Get("Cache-Control"), resp.Header.Values("Set-Cookie"))
	}
	// Logout expires the cookie: that response is private too.
	resp = getWith(t, inst, "/logout?Cache-Control=public", sid)
	if len(resp.Header.Values("Set-Cookie")) != 1 || resp.Header.Get("Cache-Control") != "private" {
		t.Errorf("logout: Cache-Control = %q, Set-Cookie = %q; want private and the expired cookie",
			resp.Header.Get("Cache-Control"), resp.Header.Values("Set-Cookie"))
	}

	// Header mode: the id header is as private as a cookie.
	cfg.Header = "X-Session"
	api := start(t, cfg, cacheRoutes())
	resp = getWith(t, api, "/page?Cache-Control=public%2C+s-maxage%3D600", "")
	if resp.Header.Get("X-Session") == "" || resp.Header.Get("Cache-Control") != "private" {
		t.Errorf("header mode: X-Session %q, Cache-Control %q; want an id and private",
			resp.Header.Get("X-Session"), resp.Header.Get("Cache-Control"))
	}
}

// TestTrustForwardedProtoMarksCookieSecure: with TrustForwardedProto a
// request that a proxy marked X-Forwarded-Proto: https gets a Secure
// cookie although it reached the process over plain HTTP; without it, or
// for "http", the header is ignored.
func TestTrustForwardedProtoMarksCookieSecure(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	trusting := start(t, core.Config{Nodes: nodesOf(mc), TrustForwardedProto: true}, cacheRoutes())
	plain := start(t, core.Config{Nodes: nodesOf(mc)}, cacheRoutes())
	for _, tc := range []struct {
		inst  *instance
		proto string
		want  bool
	}{
		{trusting, "https", true},
		{trusting, "HTTPS", true},
		{trusting, "https, http", true},
		{trusting, "http", false},
		{trusting, "http, https", false},
		{trusting, "", false},
		{plain, "https", false},
	} {
		var hdr []string
		if tc.proto != "" {
			hdr = []string{"X-Forwarded-Proto", tc.proto}
		}
		resp := getWith(t, tc.inst, "/page", "", hdr...)
		cs := resp.Cookies()
		if len(cs) != 1 {
			t.Fatalf("X-Forwarded-Proto %q: %d cookies", tc.proto, len(cs))
		}
		if cs[0].Secure != tc.want {
			t.Errorf("trust %v, X-Forwarded-Proto %q: Secure = %v, want %v",
				tc.inst == trusting, tc.proto, cs[0].Secure, tc.want)
		}
	}
}

func sessionCookie(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if c.Name == core.DefaultCookieName {
			return c.Value
		}
	}
	return ""
}
