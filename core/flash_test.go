package core_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// flashRoutes: /flash?m=TEXT adds a flash message, /flashes shows and
// removes them, /keys lists the attribute names.
func flashRoutes() routes {
	rt := shop()
	rt["/flash"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.AddFlash(r.URL.Query().Get("m"))
		fmt.Fprint(w, "ok")
	}
	rt["/flashes"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		var out []string
		for _, f := range s.Flashes() {
			out = append(out, fmt.Sprint(f))
		}
		fmt.Fprint(w, strings.Join(out, ","))
	}
	rt["/keys"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join(s.Keys(), ","))
	}
	return rt
}

// TestFlashesAcrossInstances: flash messages added on one instance are
// shown once, in order, by the next request on another instance, and are
// gone after that; they are not among the session's attribute names.
// Both modes.
func TestFlashesAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, nonSticky := range []bool{false, true} {
		t.Run(fmt.Sprint("nonSticky=", nonSticky), func(t *testing.T) {
			t.Parallel()
			mcs := msmtest.StartN(t, 2)
			cfg := core.Config{Nodes: nodesOf(mcs...), NonSticky: nonSticky, SyncBackup: true}
			// Routes: a sticky instance sees from the id that another one
			// served the session since (take-over) and reloads it.
			ca, cb := cfg, cfg
			ca.Route, cb.Route = "a", "b"
			a, b := start(t, ca, flashRoutes()), start(t, cb, flashRoutes())
			br := newBrowser(t)
			br.get(a, "/set?user=ann")
			br.get(a, "/flash?m=added+fig")
			br.get(a, "/flash?m=added+pear")
			if got, _ := br.get(a, "/keys"); got != "user" {
				t.Errorf("Keys with flashes pending = %q, want user", got)
			}
			if got, _ := br.get(b, "/flashes"); got != "added fig,added pear" {
				t.Errorf("flashes on the other instance = %q, want added fig,added pear", got)
			}
			for _, inst := range []*instance{b, a} {
				if got, _ := br.get(inst, "/flashes"); got != "" {
					t.Errorf("flashes after they were shown = %q, want none", got)
				}
			}
			if got, _ := br.get(a, "/get?k=user"); got != "ann" {
				t.Errorf("user after the flashes = %q, want ann", got)
			}
		})
	}
}

// TestFlashesCreateNoSession: reading flashes of a visitor without a
// session creates none and sends no cookie.
func TestFlashesCreateNoSession(t *testing.T) {
	t.Parallel()
	inst := start(t, core.Config{}, flashRoutes())
	got, resp := newBrowser(t).get(inst, "/flashes")
	if got != "" || len(resp.Cookies()) != 0 {
		t.Errorf("flashes of a new visitor: %q, cookies %v; want none and no cookie", got, resp.Cookies())
	}
	if n := inst.m.Stats().SessionsCreated; n != 0 {
		t.Errorf("SessionsCreated = %d, want 0", n)
	}
}
