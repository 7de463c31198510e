package nodes

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Node is a configured memcached node with its own client and health.
type Node struct {
	Spec
	// Failover is set for a node listed in FailoverNodes: it takes new
	// sessions only when no other node is up.
	Failover bool
	client   *memcache.Client
	// downUntil is the unix-nano time until which the node is skipped;
	// 0 means up. After it, one request claims the probe (see Available).
	downUntil atomic.Int64
	// Ops counts the node's operations by op and result.
	Ops OpStats
	// lastErr is the failure that last marked the node down.
	lastErr atomic.Pointer[string]
	// cmds: the commands the server lacks (fallback.go).
	cmds commands
}

// LastError is the text of the failure that last marked the node down,
// "" while it is up: a dead server, or one that refused TLS or the
// credentials.
func (n *Node) LastError() string {
	if p := n.lastErr.Load(); p != nil && n.MarkedDown() {
		return *p
	}
	return ""
}

// NewNode returns an up node that talks to its server through c.
func NewNode(s Spec, c *memcache.Client) *Node { return &Node{Spec: s, client: c} }

// Close closes the node's pooled connections; the client stays usable
// (it dials again).
func (n *Node) Close() error { return n.client.Close() }

// Set is an immutable list of nodes; SetNodes swaps in a new one.
type Set struct {
	// List is the nodes in configured order; ByID finds one by its id.
	// Both are read-only once the set is built.
	List []*Node
	ByID map[string]*Node
	rr   atomic.Uint32
}

// NewSet builds the set of the parsed nodes, with the ids in failover
// marked as failover nodes. A node that stays (same id and address as in
// old, which may be nil) keeps its client, health and counts; a new node
// gets the client newClient returns. An unknown failover id is an error
// naming it.
func NewSet(parsed []Spec, failover []string, old *Set, newClient func(addr string) *memcache.Client) (*Set, error) {
	ns := &Set{ByID: map[string]*Node{}}
	for _, p := range parsed {
		// Keep the client (and its pool and health) of a node that stays.
		if old != nil {
			if n := old.ByID[p.ID]; n != nil && n.Addr == p.Addr {
				nn := &Node{Spec: p, client: n.client}
				nn.downUntil.Store(n.downUntil.Load())
				nn.Ops.copyFrom(&n.Ops)
				ns.List = append(ns.List, nn)
				ns.ByID[p.ID] = nn
				continue
			}
		}
		n := &Node{Spec: p, client: newClient(p.Addr)}
		ns.List = append(ns.List, n)
		ns.ByID[p.ID] = n
	}
	for _, id := range failover {
		n := ns.ByID[id]
		if n == nil {
			return nil, fmt.Errorf("node %q is not in Nodes", id)
		}
		n.Failover = true
	}
	return ns, nil
}

// CloseRemoved closes the clients of s that next does not keep (removed
// nodes, or nodes whose address changed).
func (s *Set) CloseRemoved(next *Set) {
	for _, n := range s.List {
		if nn := next.ByID[n.ID]; nn == nil || nn.client != n.client {
			n.client.Close()
		}
	}
}

// Available reports whether n may be used now. A down node whose retry
// interval has passed is handed to exactly one caller as a probe; the others
// keep skipping it until the probe's result is known.
func (n *Node) Available(now time.Time, retry time.Duration) bool {
	until := n.downUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return n.downUntil.CompareAndSwap(until, now.Add(retry).UnixNano())
}

// Up reports whether n is not marked down, without claiming a probe.
func (n *Node) Up(now time.Time) bool {
	until := n.downUntil.Load()
	return until == 0 || now.UnixNano() >= until
}

// MarkedDown reports whether n is marked down: from a failure until an
// operation sent since (a probe after the retry interval) is answered.
func (n *Node) MarkedDown() bool { return n.downUntil.Load() != 0 }

// Pick chooses the node for a new or relocated session: an available
// non-failover node, spread round-robin; a failover node only when no other
// node is available; when none is, any non-failover node (the backup will
// fail and be retried, the session lives on locally). exclude is skipped.
func (s *Set) Pick(now time.Time, retry time.Duration, exclude *Node) *Node {
	if len(s.List) == 0 {
		return nil
	}
	start := int(s.rr.Add(1))
	for _, wantFailover := range []bool{false, true} {
		for i := range s.List {
			n := s.List[(start+i)%len(s.List)]
			if n == exclude || n.Failover != wantFailover || !n.Up(now) {
				continue
			}
			return n
		}
	}
	for i := range s.List {
		n := s.List[(start+i)%len(s.List)]
		if n != exclude && !n.Failover {
			return n
		}
	}
	return s.List[rand.IntN(len(s.List))]
}

// NextUp is the node that holds the backup copy of a session whose
// primary is n: the next node after n, in configured order, that is up;
// nil when there is none.
func (s *Set) NextUp(n *Node, now time.Time) *Node {
	if n == nil || len(s.List) < 2 {
		return nil
	}
	at := 0
	for i, x := range s.List {
		if x.ID == n.ID {
			at = i
		}
	}
	for i := 1; i < len(s.List); i++ {
		if x := s.List[(at+i)%len(s.List)]; x.Up(now) {
			return x
		}
	}
	return nil
}

// otherUp reports whether a node of s other than n is up.
func (s *Set) otherUp(n *Node, now time.Time) bool {
	for _, x := range s.List {
		if x != n && x.Up(now) {
			return true
		}
	}
	return false
}
