package core_test

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// monExpvarSeq makes expvar names unique: they are global to the process,
// and a test may run several times (-count).
var monExpvarSeq atomic.Int64

// monExpvarName returns a fresh expvar name for t.
func monExpvarName(t testing.TB, what string) string {
	return fmt.Sprintf("gomsm_test_%s_%s_%d", t.Name(), what, monExpvarSeq.Add(1))
}

// monExpvar decodes the Stats published under name.
func monExpvar(t testing.TB, name string) core.Stats {
	t.Helper()
	v := expvar.Get(name)
	if v == nil {
		t.Fatalf("expvar %q not published", name)
	}
	var st core.Stats
	if err := json.Unmarshal([]byte(v.String()), &st); err != nil {
		t.Fatalf("expvar %q: %v\n%s", name, err, v.String())
	}
	return st
}

func TestPublishExpvarShowsLiveStats(t *testing.T) {
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, shop())
	name := monExpvarName(t, "live")
	if err := a.m.PublishExpvar(name); err != nil {
		t.Fatalf("PublishExpvar: %v", err)
	}
	if st := monExpvar(t, name); st.Requests != 0 || len(st.Nodes) != 1 || !st.Nodes[0].Up {
		t.Errorf("fresh: requests=%d nodes=%+v", st.Requests, st.Nodes)
	}
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	br.get(a, "/set?name=ann")
	st := monExpvar(t, name)
	if st.Requests != 2 || st.SessionsCreated != 1 || st.BackupsOK != 1 || st.BackupsUnchanged != 1 {
		t.Errorf("requests=%d created=%d ok=%d unchanged=%d, want 2 1 1 1",
			st.Requests, st.SessionsCreated, st.BackupsOK, st.BackupsUnchanged)
	}
	if st.Nodes[0].Ops["add"]["ok"] != 1 { // a new session's first copy is an add
		t.Errorf("node ops = %v, want add/ok 1", st.Nodes[0].Ops)
	}

	// /debug/vars carries it, and no session id.
	rec := httptest.NewRecorder()
	expvar.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/vars", nil))
	if body := rec.Body.String(); !strings.Contains(body, `"`+name+`"`) || strings.Contains(body, br.sid()[:32]) {
		t.Errorf("/debug/vars: has %s: %v, holds the session id: %v",
			name, strings.Contains(body, name), strings.Contains(body, br.sid()[:32]))
	}
}

func TestPublishExpvarNameTaken(t *testing.T) {
	a := start(t, core.Config{}, shop())
	b := start(t, core.Config{}, shop())
	name := monExpvarName(t, "taken")
	if err := a.m.PublishExpvar(name); err != nil {
		t.Fatalf("first PublishExpvar: %v", err)
	}
	for _, m := range []*core.Manager{a.m, b.m} {
		if err := m.PublishExpvar(name); !errors.Is(err, core.ErrExpvarNameTaken) {
			t.Errorf("second PublishExpvar: err = %v, want ErrExpvarNameTaken", err)
		}
	}
	other := monExpvarName(t, "other_code")
	expvar.NewInt(other)
	if err := a.m.PublishExpvar(other); !errors.Is(err, core.ErrExpvarNameTaken) {
		t.Errorf("name published by other code: err = %v, want ErrExpvarNameTaken", err)
	}
	if err := a.m.PublishExpvar(""); err == nil {
		t.Error("empty name: no error")
	}

	// Racing publishers: one wins, the others get an error, none panics.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	race := monExpvarName(t, "race")
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.m.PublishExpvar(race)
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		if err == nil {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of 8 racing publishers succeeded, want 1", won)
	}
}
