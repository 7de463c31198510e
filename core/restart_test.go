package core_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Planned restarts of memcached nodes in non-sticky mode, one node at a
// time, while users keep writing: every change a user was answered 200
// for is there afterwards, and nobody got a new session. The runbook of
// docs/operations.md ("Rolling restarts") cites these tests.

// restartUser is one user of the restart tests: a session written over
// and over, and the last value an instance acknowledged with a 200.
type restartUser struct {
	hc     *http.Client
	cookie string // the session cookie as the last answer set it
	acked  int    // the last value answered 200
	failed int    // answers other than 200
}

// call sends path to inst with the user's cookie and keeps the cookie the
// answer sets (a session moved to another node gets a new id, same base).
func (u *restartUser) call(inst *instance, path string) (int, string, error) {
	req, _ := http.NewRequest("GET", inst.srv.URL+path, nil)
	if u.cookie != "" {
		req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: u.cookie})
	}
	resp, err := u.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == core.DefaultCookieName {
			u.cookie = c.Value
		}
	}
	return resp.StatusCode, string(body), nil
}

// base is the random part of the user's session id: it survives moves.
func (u *restartUser) base() string {
	b, _, _ := strings.Cut(u.cookie, "-")
	return b
}

// loginUsers creates n sessions through insts, each with v=0 acknowledged.
func loginUsers(t *testing.T, insts []*instance, n int) []*restartUser {
	t.Helper()
	users := make([]*restartUser, n)
	for i := range users {
		u := &restartUser{hc: &http.Client{Timeout: time.Minute}} // a deadline, not a speed claim
		if code, body, err := u.call(insts[i%len(insts)], "/set?v=0&name=user"+strconv.Itoa(i)); err != nil || code != 200 {
			t.Fatalf("login of user %d: %d %q %v", i, code, body, err)
		}
		users[i] = u
	}
	return users
}

// keepWriting makes every user write v=1, 2, 3, ... through insts in turn
// until stop is closed; acks counts the 200s. It returns a function that
// waits for the writers to end.
func keepWriting(t *testing.T, insts []*instance, users []*restartUser, stop <-chan struct{}, acks *atomic.Int64) func() {
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() {
			for v := 1; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := u.call(insts[(i+v)%len(insts)], "/set?v="+strconv.Itoa(v))
				switch {
				case err != nil:
					t.Errorf("user %d, write %d: %v", i, v, err)
					return
				case code == 200:
					u.acked = v
					acks.Add(1)
				default:
					u.failed++
				}
				time.Sleep(10 * time.Millisecond) // pacing: two cores shared with other suites
			}
		})
	}
	return wg.Wait
}

// waitForProgress waits until acks has grown by at least n.
func waitForProgress(t *testing.T, acks *atomic.Int64, n int64) {
	t.Helper()
	from := acks.Load()
	waitFor(t, effectWait, "users' writes acknowledged", func() bool { return acks.Load() >= from+n })
}

// checkUsers reads every user's session on a fresh instance, which knows
// no version of any session (so nothing masks a rolled-back copy), and
// checks that it holds the last acknowledged value under the same base.
func checkUsers(t *testing.T, cfg core.Config, users []*restartUser, bases []string) {
	t.Helper()
	fresh := start(t, cfg, shop())
	for i, u := range users {
		if u.base() != bases[i] {
			t.Errorf("user %d: session base %s, was %s: the user got a new session", i, u.base(), bases[i])
		}
		code, got, err := u.call(fresh, "/get?k=v")
		if err != nil || code != 200 || got != strconv.Itoa(u.acked) {
			t.Errorf("user %d: v = %q (%d, %v), want %d, the last value answered 200", i, got, code, err, u.acked)
		}
		if _, name, _ := u.call(fresh, "/get?k=name"); name != "user"+strconv.Itoa(i) {
			t.Errorf("user %d: name = %q, want user%d", i, name, i)
		}
	}
}

// A rolling warm restart (SIGUSR1, the same memory file) of every node,
// one at a time, while users keep writing through two instances. A
// change made while a node is away may get one copy (SavesOneCopy: always
// with two nodes; with three when the third is being probed by another
// request) until the session changes again; the users here keep writing,
// so each has two copies again before the next node goes.
func TestNonStickyRollingWarmRestartKeepsEverySession(t *testing.T) {
	t.Parallel()
	for _, nodes := range []int{2, 3} {
		t.Run(strconv.Itoa(nodes)+" nodes", func(t *testing.T) {
			t.Parallel()
			rollingWarmRestart(t, nodes)
		})
	}
}

func rollingWarmRestart(t *testing.T, nodes int) {
	mcs := make([]*msmtest.Server, nodes)
	for i := range mcs {
		mcs[i] = msmtest.Start(t, msmtest.Options{MemoryFile: filepath.Join(t.TempDir(), "memory")})
	}
	cfg := nsConfig(mcs, core.LockNone)
	cfg.NodeRetryInterval = 200 * time.Millisecond // a node that is back is used again soon
	insts := []*instance{start(t, cfg, shop()), start(t, cfg, shop())}
	const n = 20
	users := loginUsers(t, insts, n)
	bases := make([]string, n)
	for i, u := range users {
		bases[i] = u.base()
	}

	stop := make(chan struct{})
	var acks atomic.Int64
	wait := keepWriting(t, insts, users, stop, &acks)
	stopWriting := sync.OnceFunc(func() { close(stop); wait() })
	defer stopWriting() // also when the test fails half-way
	for _, mc := range mcs {
		waitForProgress(t, &acks, n)
		mc.WarmRestart() // back with every item: redundancy is whole again
	}
	waitForProgress(t, &acks, n)
	stopWriting()

	checkUsers(t, cfg, users, bases)
	failed := 0
	for _, u := range users {
		failed += u.failed
	}
	for i, inst := range insts {
		st := inst.m.Stats()
		if st.SessionsCreated != n/2 {
			t.Errorf("instance %d created %d sessions, want %d (the logins): a user got a new session", i, st.SessionsCreated, n/2)
		}
		t.Logf("instance %d: %d loads from backup, %d relocated, %d saves with one copy, %d saves failed",
			i, st.LoadsFromBackup, st.SessionsRelocated, st.SavesOneCopy, st.SavesFailed)
	}
	t.Logf("%d writes acknowledged, %d answered otherwise (503 while a node was going away)", acks.Load(), failed)
}

// A cold restart (SIGKILL, started empty) of one node in non-sticky mode
// keeps every session: each has its other copy on the other node. It
// drops redundancy, though: a session keeps a single copy until it
// changes, which is why the runbook restarts nodes warm.
func TestNonStickyColdRestartOfOneNodeKeepsEverySession(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	insts := []*instance{start(t, cfg, shop()), start(t, cfg, shop())}
	const n = 20
	users := loginUsers(t, insts, n)
	bases := make([]string, n)
	for i, u := range users {
		bases[i] = u.base()
		if code, _, err := u.call(insts[(i+1)%2], "/set?v=1"); err != nil || code != 200 {
			t.Fatalf("user %d, write: %d %v", i, code, err)
		}
		u.acked = 1
	}
	for k, victim := range mcs {
		t.Run("restart n"+strconv.Itoa(k+1), func(t *testing.T) {
			victim.Restart()
			checkUsers(t, cfg, users, bases)
		})
		// Redundancy back before the next node goes: every session is
		// written again (a read is not enough: it refreshes TTLs only).
		for i, u := range users {
			if code, _, err := u.call(insts[i%2], "/set?v="+strconv.Itoa(u.acked+1)); err != nil || code != 200 {
				t.Fatalf("user %d, write after the restart: %d %v", i, code, err)
			}
			u.acked++
		}
	}
	for i, inst := range insts {
		if st := inst.m.Stats(); st.SessionsCreated != n/2 {
			t.Errorf("instance %d created %d sessions, want %d (the logins)", i, st.SessionsCreated, n/2)
		}
	}
}
