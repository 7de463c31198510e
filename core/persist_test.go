package core_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// rememberRoutes: /remember signs in with "keep me signed in"; /forget
// turns it off; /count counts the requests of the session.
func rememberRoutes() routes {
	rt := shop()
	rt["/remember"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.SetPersist(true)
		s.Set("user", "ann")
		fmt.Fprint(w, "ok")
	}
	rt["/forget"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.SetPersist(false)
		fmt.Fprint(w, s.Persistent())
	}
	return rt
}

// setCookieOf returns the session cookie a response sets, nil if none.
func setCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == core.DefaultCookieName {
			return c
		}
	}
	return nil
}

// TestPersistentCookieOutlivesMaxInactive: a user who chose "keep me
// signed in" on one instance and goes on clicking on another keeps a valid
// cookie (the browser's jar honours Max-Age) and the same session long
// after MaxInactive since the session was created: the Max-Age is renewed
// while the session is used. Both modes.
func TestPersistentCookieOutlivesMaxInactive(t *testing.T) {
	t.Parallel()
	for _, nonSticky := range []bool{false, true} {
		t.Run(fmt.Sprint("nonSticky=", nonSticky), func(t *testing.T) {
			t.Parallel()
			mcs := msmtest.StartN(t, 2)
			const mi = 4 * time.Second
			cfg := core.Config{Nodes: nodesOf(mcs...), NonSticky: nonSticky, SyncBackup: true, MaxInactive: mi}
			a, b := start(t, cfg, rememberRoutes()), start(t, cfg, rememberRoutes())
			br := newBrowser(t)
			_, resp := br.get(a, "/remember")
			c := setCookieOf(resp)
			if c == nil || c.MaxAge <= 0 {
				t.Fatalf("login with SetPersist(true): cookie %v, want a Max-Age", c)
			}
			created := time.Now()
			renewed := 0
			// The user goes on clicking on the other instance (the choice
			// was stored with the session), until twice MaxInactive has
			// passed since the session was created.
			for n := 1; time.Since(created) < 2*mi; n++ {
				got, resp := br.get(b, "/count")
				if got != strconv.Itoa(n) {
					t.Fatalf("request %d, %v after login: count %q, want %d: the session was lost (cookie held: %q)", n, time.Since(created), got, n, br.sid())
				}
				if c := setCookieOf(resp); c != nil {
					if c.MaxAge <= 0 {
						t.Fatalf("renewed cookie %v has no Max-Age", c)
					}
					renewed++
				}
				time.Sleep(50 * time.Millisecond) // the user's think time, not a wait for an effect
			}
			if renewed == 0 {
				t.Errorf("the cookie was never renewed while the session was used")
			}
		})
	}
}

// TestPersistRenewalIsRateLimited: a persistent cookie is renewed at most
// once per quarter of MaxInactive per session and instance, so a user
// clicking away does not get a Set-Cookie on every response.
func TestPersistRenewalIsRateLimited(t *testing.T) {
	t.Parallel()
	inst := start(t, core.Config{MaxInactive: time.Hour}, rememberRoutes())
	br := newBrowser(t)
	if _, resp := br.get(inst, "/remember"); setCookieOf(resp) == nil {
		t.Fatal("login sent no cookie")
	}
	for i := range 5 {
		if _, resp := br.get(inst, "/count"); setCookieOf(resp) != nil {
			t.Fatalf("request %d right after login renewed the cookie: %v", i, resp.Header["Set-Cookie"])
		}
	}
}

// TestPersistMaxAge: the Max-Age is the idle timeout plus its renewal
// interval, never past MaxLifetime; SetPersist(false) turns the cookie
// back into a browser-session cookie at once.
func TestPersistMaxAge(t *testing.T) {
	t.Parallel()
	inst := start(t, core.Config{MaxInactive: 2 * time.Hour, MaxLifetime: time.Hour}, rememberRoutes())
	br := newBrowser(t)
	_, resp := br.get(inst, "/remember")
	if c := setCookieOf(resp); c == nil || c.MaxAge <= 0 || c.MaxAge > 3600 {
		t.Fatalf("cookie with MaxLifetime 1h: %v, want 0 < Max-Age <= 3600", c)
	}
	got, resp := br.get(inst, "/forget")
	c := setCookieOf(resp)
	if got != "false" || c == nil || c.MaxAge != 0 || c.Value != br.sid() {
		t.Fatalf("SetPersist(false): Persistent %s, cookie %v, want false and the same id without Max-Age", got, c)
	}
	inst2 := start(t, core.Config{MaxInactive: 20 * time.Minute}, rememberRoutes())
	_, resp = newBrowser(t).get(inst2, "/remember")
	if c := setCookieOf(resp); c == nil || c.MaxAge != 1500 {
		t.Fatalf("cookie with MaxInactive 20m: %v, want Max-Age 1500 (20m and the 5m renewal interval)", c)
	}
}
