package core_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// nodeOfID returns the node part of a session id.
func nodeOfID(id string) string {
	_, rest, _ := strings.Cut(keyOf(id), "-")
	return rest
}

func TestNodeKillMovesSessionsWithAllData(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	// n1 is killed, so it refuses at once: the healthy n2 keeps the long
	// test OperationTimeout and a busy machine cannot make it look dead.
	cfg := core.Config{Nodes: nodesOf(mcs...), NodeRetryInterval: time.Minute}
	a := start(t, cfg, shop())

	// 100 live sessions, all on n1 (the node that will die).
	var users []*browser
	created := 0
	for len(users) < 100 {
		br := newBrowser(t)
		br.get(a, "/set?name=u"+strconv.Itoa(len(users)))
		br.get(a, "/count")
		created++
		if nodeOfID(br.sid()) == "n1" {
			users = append(users, br)
		}
	}
	waitFor(t, effectWait, "backups", func() bool {
		st := a.m.Stats()
		return st.BackupsOK+st.BackupsDropped == uint64(2*created)
	})

	mcs[0].Kill()
	for round := 2; round <= 4; round++ {
		for i, br := range users {
			if got, _ := br.get(a, "/count"); got != strconv.Itoa(round) {
				t.Fatalf("user %d round %d: count %s", i, round, got)
			}
		}
	}
	a.m.Close() // flush

	st := a.m.Stats()
	if st.SessionsRelocated != 100 || st.NodeDownEvents != 1 {
		t.Errorf("SessionsRelocated = %d, NodeDownEvents = %d; want 100 and 1", st.SessionsRelocated, st.NodeDownEvents)
	}
	b := start(t, core.Config{Nodes: nodesOf(mcs...)}, shop())
	for i, br := range users {
		if n := nodeOfID(br.sid()); n != "n2" {
			t.Fatalf("user %d still has a cookie for node %s", i, n)
		}
		if got, _ := br.get(b, "/get?k=name"); got != "u"+strconv.Itoa(i) {
			t.Errorf("user %d: name on instance B = %q", i, got)
		}
		if got, _ := br.get(b, "/get?k=n"); got != "4" {
			t.Errorf("user %d: count on instance B = %q, want 4", i, got)
		}
	}
}

func TestCookieChangesOnceOnRelocation(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, core.Config{Nodes: nodesOf(mcs...), NodeRetryInterval: time.Minute}, shop())
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	waitFor(t, effectWait, "backup", func() bool { return a.m.Stats().BackupsOK >= 1 })
	mcs[0].Kill()
	changes := 0
	last := br.sid()
	for range 5 {
		_, resp := br.get(a, "/count")
		if len(resp.Cookies()) > 0 {
			changes++
		}
		if br.sid() != last {
			last = br.sid()
		}
	}
	if changes != 1 {
		t.Errorf("cookie sent %d times after relocation, want 1", changes)
	}
	if nodeOfID(last) != "n2" {
		t.Errorf("session ended on node %q, want n2", nodeOfID(last))
	}
}

// TestHungNodeCostsOneTimeoutThenIsSkipped pauses (SIGSTOP) n1: the first
// request that needs it waits one OperationTimeout and marks it down; the
// requests after it never send n1 anything again. It counts n1's failed
// operations rather than timing requests, so a slow machine cannot fail it.
func TestHungNodeCostsOneTimeoutThenIsSkipped(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, BackupTimeout: 4 * hungTimeout,
		OperationTimeout: hungTimeout, NodeRetryInterval: time.Minute}
	a := start(t, cfg, shop())
	var users []*browser
	for len(users) < 5 {
		br := newBrowser(t)
		br.get(a, "/set?name=ann")
		if nodeOfID(br.sid()) == "n1" {
			users = append(users, br)
		}
	}
	mcs[0].Pause()
	t.Cleanup(mcs[0].Resume)

	var took []time.Duration
	errorsAfter := make([]uint64, len(users))
	for i, br := range users {
		t0 := time.Now()
		if got, _ := br.get(a, "/count"); got != "1" {
			t.Fatalf("count %s", got)
		}
		took = append(took, time.Since(t0))
		errorsAfter[i] = nodeErrors(a.m.Stats(), "n1")
	}
	t.Logf("request times with n1 paused (OperationTimeout %v): %v", hungTimeout, took)
	// The first request waits on n1 and fails there once; the others find
	// it marked down and send it nothing (no further failed operation).
	if errorsAfter[0] != 1 {
		t.Errorf("first request: %d failed operations on the hung node, want 1", errorsAfter[0])
	}
	for i, n := range errorsAfter[1:] {
		if n != errorsAfter[0] {
			t.Errorf("request %d: %d failed operations on the hung node so far: it waited on it again", i+2, n)
		}
	}
	if st := a.m.Stats(); st.NodeDownEvents != 1 {
		t.Errorf("NodeDownEvents = %d, want 1", st.NodeDownEvents)
	}
}

// nodeErrors returns the number of operations on node id that failed
// (error, timeout), over all operation kinds.
func nodeErrors(st core.Stats, id string) uint64 {
	var n uint64
	for _, ns := range st.Nodes {
		if ns.ID == id {
			for _, byResult := range ns.Ops {
				n += byResult["error"]
			}
		}
	}
	return n
}

// newSessionsOn creates n new sessions on inst (path must write to the
// session) and returns how many landed on node.
func newSessionsOn(t *testing.T, inst *instance, path, node string, n int) int {
	t.Helper()
	on := 0
	for range n {
		br := newBrowser(t)
		br.get(inst, path)
		if nodeOfID(br.sid()) == node {
			on++
		}
	}
	return on
}

// waitNewSessionOn creates new sessions until one lands on node: for a node
// that came back, the first one to try it after NodeRetryInterval probes it.
func waitNewSessionOn(t *testing.T, inst *instance, path, node string) {
	t.Helper()
	waitFor(t, effectWait, "a new session on "+node, func() bool {
		return newSessionsOn(t, inst, path, node, 1) == 1
	})
}

func TestFailoverNodesOnlyWhenNothingElseIsUp(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	// n1 is killed (it refuses at once), never paused: both nodes keep the
	// long test OperationTimeout.
	cfg := core.Config{Nodes: nodesOf(mcs...), FailoverNodes: "n2", SyncBackup: true,
		NodeRetryInterval: 500 * time.Millisecond}
	rt := shop()
	rt["/quiet"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Set("v", r.URL.Query().Get("v")) // writes no body: the cookie follows the save
	}
	a := start(t, cfg, rt)
	// Both up: every new session goes to n1, the non-failover node.
	for i := range 10 {
		br := newBrowser(t)
		br.get(a, "/quiet?v="+strconv.Itoa(i))
		if n := nodeOfID(br.sid()); n != "n1" {
			t.Fatalf("with n1 up, a new session went to %s", n)
		}
	}
	// n1 dies: new sessions go to the failover node.
	mcs[0].Kill()
	for i := range 10 {
		br := newBrowser(t)
		br.get(a, "/quiet?v="+strconv.Itoa(i))
		if n := nodeOfID(br.sid()); n != "n2" {
			t.Fatalf("with n1 down, a new session is on %s", n)
		}
	}
	// n1 is back: after the retry interval a new session probes it, and
	// from then on every new session goes there again.
	mcs[0].Restart()
	waitNewSessionOn(t, a, "/quiet?v=probe", "n1")
	if onN1 := newSessionsOn(t, a, "/quiet?v=x", "n1", 10); onN1 != 10 {
		t.Errorf("after n1 came back, %d of 10 new sessions went to it, want 10", onN1)
	}
}

func TestNodeComesBackMovedSessionsStayNothingLost(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, NodeRetryInterval: 500 * time.Millisecond}
	a := start(t, cfg, shop())
	var users []*browser
	for range 20 {
		br := newBrowser(t)
		br.get(a, "/count")
		users = append(users, br)
	}
	mcs[0].Kill()
	for _, br := range users {
		br.get(a, "/count")
		br.get(a, "/count")
	}
	mcs[0].Restart()
	waitNewSessionOn(t, a, "/count", "n1") // n1 probed and used again
	failedBefore := a.m.Stats().BackupsFailed
	for _, br := range users {
		br.get(a, "/count")
	}
	var newOnN1 int
	for range 20 {
		br := newBrowser(t)
		br.get(a, "/count")
		br.get(a, "/count")
		if nodeOfID(br.sid()) == "n1" {
			newOnN1++
		}
	}
	st := a.m.Stats()
	if st.BackupsFailed != failedBefore {
		t.Errorf("%d backups failed after n1 came back", st.BackupsFailed-failedBefore)
	}
	if newOnN1 == 0 {
		t.Errorf("no new session went to n1 after it came back")
	}
	b := start(t, core.Config{Nodes: nodesOf(mcs...)}, shop())
	for i, br := range users {
		if n := nodeOfID(br.sid()); n != "n2" {
			t.Errorf("user %d moved back to %s; moved sessions stay put", i, n)
		}
		if got, _ := br.get(b, "/get?k=n"); got != "4" {
			t.Errorf("user %d: count on instance B = %q, want 4", i, got)
		}
	}
}

func TestSetNodesMovesSessionsOfRemovedNode(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, core.Config{Nodes: nodesOf(mcs...), SyncBackup: true}, shop())
	var users []*browser
	for len(users) < 10 {
		br := newBrowser(t)
		br.get(a, "/set?name=u"+strconv.Itoa(len(users)))
		if nodeOfID(br.sid()) == "n1" {
			users = append(users, br)
		}
	}
	if err := a.m.SetNodes("n2:"+mcs[1].Addr(), ""); err != nil {
		t.Fatal(err)
	}
	if err := a.m.SetNodes("n1:bad", ""); err == nil {
		t.Error("SetNodes accepted a bad node list")
	}
	for _, br := range users {
		br.get(a, "/get?k=name") // read-only: still moves
		br.get(a, "/get?k=name") // the cookie follows
	}
	b := start(t, core.Config{Nodes: "n2:" + mcs[1].Addr()}, shop())
	for i, br := range users {
		if n := nodeOfID(br.sid()); n != "n2" {
			t.Errorf("user %d still on %s after SetNodes", i, n)
		}
		if got, _ := br.get(b, "/get?k=name"); got != fmt.Sprint("u", i) {
			t.Errorf("user %d: name on B = %q", i, got)
		}
	}
}
