package nodes

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// timeoutErr is a net.Error that is a timeout, as a stalled node gives.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var refused = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

// testCluster is a cluster over the set of ids, counting its hooks.
func testCluster(t *testing.T, ids ...string) (c *Cluster, downs, ups *int) {
	downs, ups = new(int), new(int)
	c = &Cluster{Retry: time.Hour, OpTimeout: 10 * time.Millisecond,
		OnDown: func(*Node, error) { *downs++ }, OnUp: func(*Node) { *ups++ }}
	c.Store(testSet(t, ids))
	return c, downs, ups
}

func fails(err error) func(*memcache.Client) error {
	return func(*memcache.Client) error { return err }
}

func TestDoMarksDownOnFailureAndUpOnAnswer(t *testing.T) {
	c, downs, ups := testCluster(t, "n1", "n2")
	n := c.Load().ByID["n1"]
	err := c.Do(n, OpGet, fails(refused))
	if !errors.Is(err, refused) || err.Error() != "core: node n1: dial tcp: connection refused" || !n.MarkedDown() || *downs != 1 {
		t.Fatalf("refused: err %v, marked down %v, OnDown %d", err, n.MarkedDown(), *downs)
	}
	if err := c.Do(n, OpGet, fails(nil)); err != ErrDown {
		t.Errorf("Do on a down node = %v, want ErrDown without trying", err)
	}
	if err := c.DoEvenIfDown(n, OpGet, fails(memcache.ErrCacheMiss)); err != memcache.ErrCacheMiss || n.MarkedDown() || *ups != 1 {
		t.Errorf("a miss from a down node: err %v, still down %v, OnUp %d", err, n.MarkedDown(), *ups)
	}
	if got := n.Ops.Snapshot(); len(got) != 1 || len(got["get"]) != 3 || got["get"]["error"] != 1 || got["get"]["skipped"] != 1 || got["get"]["miss"] != 1 {
		t.Errorf("counts %v, want get: one error, one skipped, one miss", got)
	}
	n.Ops.Reset()
	if got := n.Ops.Snapshot(); len(got) != 0 {
		t.Errorf("counts after Reset: %v", got)
	}
}

func TestDoSlowIsNotDead(t *testing.T) {
	c, _, _ := testCluster(t, "n1")
	n := c.Load().ByID["n1"]
	// The only node: a timeout does not mark it down, waiting beats failing.
	if err := c.Do(n, OpSet, fails(timeoutErr{})); err == nil || n.MarkedDown() {
		t.Fatalf("timeout on the only node: err %v, marked down %v", err, n.MarkedDown())
	}
	c2, _, _ := testCluster(t, "n1", "n2")
	n = c2.Load().ByID["n1"]
	before := time.Now()
	c2.Do(n, OpSet, fails(timeoutErr{}))
	if !n.MarkedDown() {
		t.Fatal("a timeout with another node up does not mark the node down")
	}
	// Skipped about a second (max(1s, 2*OpTimeout)), not the hour of Retry.
	if until := time.Unix(0, n.downUntil.Load()); until.After(before.Add(time.Minute)) {
		t.Errorf("a slow node is skipped until %v, want about a second", until.Sub(before))
	}
}

func TestDoRetriesOnceAfterABrokenConnection(t *testing.T) {
	c, downs, _ := testCluster(t, "n1")
	n := c.Load().ByID["n1"]
	calls := 0
	err := c.Do(n, OpGet, func(*memcache.Client) error {
		calls++
		if calls == 1 {
			return &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
		}
		return nil
	})
	if err != nil || calls != 2 || n.MarkedDown() || *downs != 0 {
		t.Errorf("err %v after %d calls, marked down %v", err, calls, n.MarkedDown())
	}
	if got := n.Ops.Snapshot()["get"]; got["error"] != 1 || got["ok"] != 1 {
		t.Errorf("counts %v, want one error and one ok", got)
	}
}

// An answer to an operation sent before another one marked the node down
// does not mark it up again: the node may have died since (a kill with
// answers on their way made it flap down, up, down).
func TestAnAnswerSentBeforeTheNodeWentDownDoesNotMarkItUp(t *testing.T) {
	c, downs, ups := testCluster(t, "n1", "n2")
	n := c.Load().ByID["n1"]
	sent, answer := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- c.Do(n, OpGet, func(*memcache.Client) error {
			close(sent)
			<-answer // held until another operation marked n down
			return nil
		})
	}()
	<-sent
	c.Do(n, OpSet, fails(refused))
	close(answer)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !n.MarkedDown() || *downs != 1 || *ups != 0 {
		t.Errorf("after a late answer: marked down %v, OnDown %d, OnUp %d; want down, 1, 0", n.MarkedDown(), *downs, *ups)
	}
	// A probe (sent while n is marked down) that is answered marks it up.
	n.downUntil.Store(1) // its retry interval has passed
	if err := c.Do(n, OpGet, fails(nil)); err != nil || n.MarkedDown() || *ups != 1 {
		t.Errorf("answered probe: err %v, marked down %v, OnUp %d; want up, 1", err, n.MarkedDown(), *ups)
	}
}
