package core_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// The exported errors reach the handler through Session.Err (and the
// response's writes) with errors.Is working, and their texts name the
// package once, however deep the cause.

// onceCore fails when msg does not name the package exactly once.
func onceCore(t *testing.T, what, msg string) {
	t.Helper()
	if n := strings.Count(msg, "core: "); n != 1 {
		t.Errorf("%s %q names the package %d times, want once", what, msg, n)
	}
}

// TestUnavailableErrorReadsOnce: a sticky session whose node is gone is
// ErrUnavailable in Err and in GetAs's error, whose texts carry the cause
// (the node) without a second "core:".
func TestUnavailableErrorReadsOnce(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	got := make(chan [2]error, 1)
	rt := shop()
	rt["/errs"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		_, err := core.GetAs[string](s, "name")
		got <- [2]error{s.Err(), err}
	}
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, rt)
	b := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	mc.Kill()
	br.get(b, "/errs") // b has no copy: it must ask memcached
	errs := <-got
	if !errors.Is(errs[0], core.ErrUnavailable) {
		t.Fatalf("Err() = %v, want ErrUnavailable", errs[0])
	}
	if !errors.Is(errs[1], core.ErrNoAttribute) || !errors.Is(errs[1], core.ErrUnavailable) {
		t.Errorf("GetAs error = %v, want ErrNoAttribute and ErrUnavailable", errs[1])
	}
	onceCore(t, "Err()", errs[0].Error())
	onceCore(t, "GetAs's error", errs[1].Error())
}

// TestNonStickyTooLargeReachesTheHandler: in non-sticky mode Err reports
// ErrSessionTooLarge before the save, the response's write returns the
// save's failure, and Err reports it after; the 503 names the size once.
func TestNonStickyTooLargeReachesTheHandler(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	got := make(chan [3]error, 1)
	rt := nsRoutes()
	rt["/big"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("blob", strings.Repeat("x", 2<<20)) // over MaxSessionBytes
		before := s.Err()
		_, werr := fmt.Fprint(w, "ok")
		got <- [3]error{before, werr, s.Err()}
	}
	a := start(t, nsConfig(mcs, core.LockAll), rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	body, resp := br.get(a, "/big")
	errs := <-got
	if !errors.Is(errs[0], core.ErrSessionTooLarge) || errors.Is(errs[0], core.ErrSaveFailed) {
		t.Errorf("Err() before the save = %v, want ErrSessionTooLarge alone", errs[0])
	}
	for i, what := range []string{"the response's write", "Err() after the save"} {
		if err := errs[i+1]; !errors.Is(err, core.ErrSaveFailed) || !errors.Is(err, core.ErrSessionTooLarge) {
			t.Errorf("%s = %v, want ErrSaveFailed and ErrSessionTooLarge", what, err)
		} else {
			onceCore(t, what, err.Error())
		}
	}
	want := core.ErrSaveFailed.Error() + ": session too large for memcached\n"
	if resp.StatusCode != http.StatusServiceUnavailable || body != want {
		t.Errorf("response %d %q, want 503 %q", resp.StatusCode, body, want)
	}
}

// TestProceedOnLockTimeoutIsReportedByErr: a handler that
// ProceedOnLockTimeout runs without its lock learns it from Err
// (ErrLockTimeout); with the lock, Err is nil. Without
// ProceedOnLockTimeout the 503's text is ErrLockTimeout's.
func TestProceedOnLockTimeoutIsReportedByErr(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	for _, proceed := range []bool{true, false} {
		got := make(chan error, 2)
		rt := nsRoutes()
		rt["/err"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
			s.Get("name")
			got <- s.Err()
		}
		cfg := nsConfig(mcs, core.LockAll)
		cfg.LockWait = 300 * time.Millisecond
		cfg.ProceedOnLockTimeout = proceed
		a := start(t, cfg, rt)
		br := newBrowser(t)
		br.get(a, "/set?name=ann")
		br.get(a, "/err")
		if err := <-got; err != nil {
			t.Errorf("proceed=%v: Err() with the lock held = %v, want nil", proceed, err)
		}
		node := mcs[0]
		if nodeOfID(br.sid()) == "n2" {
			node = mcs[1]
		}
		mcClient(node).Set(&memcache.Item{Key: lockKeyOf(br.sid()), Value: []byte("other"), Expiration: 60})
		body, resp := br.get(a, "/err")
		mcClient(node).Delete(lockKeyOf(br.sid()))
		if !proceed {
			if resp.StatusCode != http.StatusServiceUnavailable || body != core.ErrLockTimeout.Error()+"\n" {
				t.Errorf("proceed=false: %d %q, want 503 %q", resp.StatusCode, body, core.ErrLockTimeout)
			}
			continue
		}
		err := <-got
		if !errors.Is(err, core.ErrLockTimeout) {
			t.Errorf("proceed=true: Err() without the lock = %v, want ErrLockTimeout", err)
		} else {
			onceCore(t, "Err()", err.Error())
		}
	}
}

// TestAutoLockingKeepsLockingAPathWhoseSavesFail: "auto" locking learns a
// path as read-only only from requests that left their session unchanged;
// a request whose change could not be stored changed it, so a path whose
// saves keep failing keeps its lock.
func TestAutoLockingKeepsLockingAPathWhoseSavesFail(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	rt := nsRoutes()
	rt["/big"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("blob", strings.Repeat("x", 2<<20)) // over MaxSessionBytes: never stored
	}
	a := start(t, nsConfig(mcs, core.LockAuto), rt)
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	sets := func() uint64 { return mcs[0].Counters().Set + mcs[1].Counters().Set }
	for range 6 { // more than auto locking needs to learn a read-only path
		if _, resp := br.get(a, "/big"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("oversized change answered %d, want 503", resp.StatusCode)
		}
	}
	before := sets()
	br.get(a, "/big")
	if d := sets() - before; d == 0 {
		t.Error("a path whose saves fail was learned read-only: its request took no lock")
	}
}
