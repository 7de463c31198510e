package conformance

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
)

// The scenarios of the session features an application builds its login
// on: flash messages, "keep me signed in" and "log out everywhere". Each
// runs with two instances of the framework, in both modes.

// featureRoutes are the routes of these scenarios, added to routes().
func featureRoutes() Routes {
	return Routes{
		// /flash?m=TEXT adds a flash message.
		"/flash": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.AddFlash(r.URL.Query().Get("m"))
			fmt.Fprint(w, "ok")
		},
		// /flashes shows the flash messages and removes them.
		"/flashes": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			var out []string
			for _, f := range s.Flashes() {
				out = append(out, fmt.Sprint(f))
			}
			fmt.Fprint(w, strings.Join(out, ","))
		},
		// /remember signs in with "keep me signed in".
		"/remember": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.SetPersist(true)
			s.Set("user", "ann")
			fmt.Fprint(w, "ok")
		},
		// /signin?u=NAME renews the id and ties the session to NAME.
		"/signin": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.RenewID()
			s.SetPrincipal(r.URL.Query().Get("u"))
			fmt.Fprint(w, "ok")
		},
		// /whoami shows the session's principal.
		"/whoami": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "[%s]", s.Principal())
		},
	}
}

// testFlashes: flash messages added through one server are shown once, in
// order, by the next request on another.
func testFlashes(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	b.expect(a, "/flash?m=added+fig", "ok")
	b.expect(a, "/flash?m=added+pear", "ok")
	b.expect(a2, "/flashes", "added fig,added pear")
	b.expect(a2, "/flashes", "")
}

// testPersist: SetPersist(true) gives the cookie a Max-Age, and the
// choice travels with the session: the other server that serves it next
// renews the cookie with a Max-Age too.
func testPersist(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	b := e.browser()
	c := sessionCookie(b.expect(a, "/remember", "ok"))
	if c == nil || c.MaxAge <= 0 {
		t.Fatalf("cookie after SetPersist(true): %v, want a Max-Age", c)
	}
	c2 := sessionCookie(b.expect(a2, "/get?k=user", "ann"))
	if c2 == nil || c2.MaxAge <= 0 || c2.Value != c.Value {
		t.Errorf("cookie from the other server: %v, want %q renewed with a Max-Age", c2, c.Value)
	}
}

// testInvalidatePrincipal: one InvalidatePrincipal call logs a user out of
// the sessions it holds on two servers; another user stays signed in.
func testInvalidatePrincipal(t *testing.T, e *env) {
	a, a2 := e.start(nil), e.start(nil)
	ann1, ann2, bob := e.browser(), e.browser(), e.browser()
	ann1.expect(a, "/signin?u=ann", "ok")
	ann2.expect(a2, "/signin?u=ann", "ok")
	bob.expect(a, "/signin?u=bob", "ok")
	ann1.expect(a, "/whoami", "[ann]")
	ann2.expect(a2, "/whoami", "[ann]")
	n, err := a2.m.InvalidatePrincipal(context.Background(), "ann")
	if err != nil || n != 2 {
		t.Fatalf("InvalidatePrincipal = %d, %v; want 2", n, err)
	}
	for i, u := range []struct {
		b    *browser
		inst *instance
	}{{ann1, a}, {ann2, a2}} {
		// Within PrincipalCheckInterval: poll, with a deadline of a minute
		// for a busy machine.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if got, _ := u.b.get(u.inst, "/whoami"); got == "[]" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("session %d of ann still served a minute after InvalidatePrincipal", i+1)
			}
		}
	}
	bob.expect(a, "/whoami", "[bob]")
}
