package nodes

import (
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// newClient is a client that is never dialled.
func newClient(addr string) *memcache.Client { return memcache.New(addr) }

// testSet builds a set of the given ids (on unused addresses: nothing is
// dialled) with failover marking the failover nodes.
func testSet(t *testing.T, ids []string, failover ...string) *Set {
	t.Helper()
	var specs []Spec
	for _, id := range ids {
		specs = append(specs, Spec{ID: id, Addr: "127.0.0.1:1"})
	}
	s, err := NewSet(specs, failover, nil, newClient)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSetKeepsNodesThatStay(t *testing.T) {
	old := testSet(t, []string{"n1", "n2"})
	old.ByID["n1"].Ops.add(OpGet, resultOK)
	old.ByID["n1"].downUntil.Store(42)
	next, err := NewSet([]Spec{{"n1", "127.0.0.1:1"}, {"n2", "127.0.0.1:2"}}, nil, old, newClient)
	if err != nil {
		t.Fatal(err)
	}
	n1 := next.ByID["n1"]
	if n1.client != old.ByID["n1"].client || !n1.MarkedDown() || n1.Ops.Snapshot()["get"]["ok"] != 1 {
		t.Errorf("n1 stayed but lost its client, health or counts")
	}
	if next.ByID["n2"].client == old.ByID["n2"].client {
		t.Errorf("n2 moved to another address but kept its client")
	}
	if _, err := NewSet([]Spec{{"n1", "h:1"}}, []string{"n9"}, nil, newClient); err == nil || err.Error() != `node "n9" is not in Nodes` {
		t.Errorf("unknown failover id: %v", err)
	}
}

func TestAvailableHandsOneProbe(t *testing.T) {
	n := testSet(t, []string{"n1"}).List[0]
	now := time.Now()
	if !n.Available(now, time.Minute) {
		t.Fatal("an up node is not available")
	}
	n.downUntil.Store(now.Add(-time.Millisecond).UnixNano()) // retry interval passed
	if !n.Available(now, time.Minute) {
		t.Fatal("the first caller after the retry interval gets no probe")
	}
	if n.Available(now, time.Minute) || n.Up(now) {
		t.Error("a second caller gets the node while the probe is out")
	}
	if !n.MarkedDown() {
		t.Error("a node being probed is not marked down")
	}
}

func TestPickPrefersUpNonFailoverNodes(t *testing.T) {
	s := testSet(t, []string{"n1", "n2", "n3"}, "n3")
	now := time.Now()
	seen := map[string]bool{}
	for range 10 {
		seen[s.Pick(now, time.Minute, nil).ID] = true
	}
	if !seen["n1"] || !seen["n2"] || seen["n3"] {
		t.Errorf("picked %v; want n1 and n2 round robin, never the failover n3", seen)
	}
	s.ByID["n1"].downUntil.Store(now.Add(time.Hour).UnixNano())
	if got := s.Pick(now, time.Minute, s.ByID["n2"]); got.ID != "n3" {
		t.Errorf("n1 down, n2 excluded: picked %s, want the failover n3", got.ID)
	}
	s.ByID["n3"].downUntil.Store(now.Add(time.Hour).UnixNano())
	if got := s.Pick(now, time.Minute, s.ByID["n2"]); got.ID != "n1" {
		t.Errorf("all down but the excluded n2: picked %s, want the non-failover n1", got.ID)
	}
}

func TestNextUpIsTheNextNodeUp(t *testing.T) {
	s := testSet(t, []string{"n1", "n2", "n3"})
	now := time.Now()
	if got := s.NextUp(s.ByID["n3"], now); got.ID != "n1" {
		t.Errorf("NextUp(n3) = %s, want n1 (wrapping around)", got.ID)
	}
	s.ByID["n2"].downUntil.Store(now.Add(time.Hour).UnixNano())
	if got := s.NextUp(s.ByID["n1"], now); got.ID != "n3" {
		t.Errorf("NextUp(n1) with n2 down = %s, want n3", got.ID)
	}
	if got := testSet(t, []string{"n1"}).NextUp(s.ByID["n1"], now); got != nil {
		t.Errorf("NextUp on a single node = %s, want none", got.ID)
	}
}
