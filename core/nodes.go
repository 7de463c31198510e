package core

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Node is one memcached server as configured in Config.Nodes.
type Node struct {
	// ID is the short id carried in session ids ("n1"); empty for a single
	// node configured without id.
	ID string
	// Addr is "host:port".
	Addr string
}

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

// ParseNodes parses the memcached-session-manager node syntax:
// "n1:host:11211,n2:host:11212" (comma or space separated), or "host:11211"
// alone for a single node without id. An empty string gives no nodes. A bad
// string is an error that names the offending part.
func ParseNodes(s string) ([]Node, error) {
	parts := splitList(s)
	var nodes []Node
	seen := map[string]bool{}
	for _, p := range parts {
		id, addr, ok := strings.Cut(p, ":")
		if strings.HasPrefix(p, "[") {
			ok = false // "[::1]:11211": an IPv6 address without id
		}
		if ok && strings.Contains(addr, ":") {
			if !nodeIDRE.MatchString(id) {
				return nil, fmt.Errorf("core: node %q: id %q must be 1-32 letters, digits or _, as in \"n1:10.0.0.1:11211\"", p, id)
			}
		} else {
			if len(parts) > 1 {
				return nil, fmt.Errorf("core: node %q has no id: with several nodes each one is id:host:port, as in \"n1:10.0.0.1:11211,n2:10.0.0.2:11211\"", p)
			}
			id, addr = "", p
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("core: node %q is not id:host:port (or host:port for a single node), as in \"n1:10.0.0.1:11211\"", p)
		}
		if strings.IndexFunc(host, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
			return nil, fmt.Errorf("core: node %q: address %q has a control or non-ASCII character", p, addr)
		}
		if pn, err := strconv.Atoi(port); err != nil {
			// "n1:localhost" reads as host n1, port localhost: most likely
			// an id and a host without a port.
			return nil, fmt.Errorf("core: node %q has no port: %q is not a port number; write id:host:port, as in \"n1:localhost:11211\"", p, port)
		} else if pn < 1 || pn > 65535 {
			return nil, fmt.Errorf("core: node %q: port %d is not from 1 to 65535 (memcached's default is 11211)", p, pn)
		}
		if seen[id] {
			return nil, fmt.Errorf("core: node %q: node id %q is used twice; each node needs its own id", p, id)
		}
		seen[id] = true
		nodes = append(nodes, Node{ID: id, Addr: addr})
	}
	return nodes, nil
}

// splitList splits on commas and white space, dropping empty items.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// node is a configured memcached node with its own client and health.
type node struct {
	Node
	failover bool
	client   *memcache.Client
	// downUntil is the unix-nano time until which the node is skipped;
	// 0 means up. After it, one request claims the probe (see available).
	downUntil atomic.Int64
	ops       nodeOpStats
}

// nodeSet is an immutable list of nodes; SetNodes swaps in a new one.
type nodeSet struct {
	list []*node
	byID map[string]*node
	rr   atomic.Uint32
}

func (m *Manager) buildNodeSet(nodes, failover string, old *nodeSet) (*nodeSet, error) {
	parsed, err := ParseNodes(nodes)
	if err != nil {
		// "core: Nodes: node ...": the field, then what is wrong with it.
		return nil, fmt.Errorf("core: Nodes: %s", strings.TrimPrefix(err.Error(), "core: "))
	}
	ns := &nodeSet{byID: map[string]*node{}}
	for _, p := range parsed {
		// Keep the client (and its pool and health) of a node that stays.
		if old != nil {
			if n := old.byID[p.ID]; n != nil && n.Addr == p.Addr {
				nn := &node{Node: p, client: n.client}
				nn.downUntil.Store(n.downUntil.Load())
				nn.ops.copyFrom(&n.ops)
				ns.list = append(ns.list, nn)
				ns.byID[p.ID] = nn
				continue
			}
		}
		c := memcache.New(p.Addr)
		c.Timeout = m.cfg.OperationTimeout
		c.MaxIdleConns = m.cfg.MaxIdleConns
		n := &node{Node: p, client: c}
		ns.list = append(ns.list, n)
		ns.byID[p.ID] = n
	}
	for _, id := range splitList(failover) {
		n := ns.byID[id]
		if n == nil {
			return nil, fmt.Errorf("core: FailoverNodes: node %q is not in Nodes", id)
		}
		n.failover = true
	}
	return ns, nil
}

// available reports whether n may be used now. A down node whose retry
// interval has passed is handed to exactly one caller as a probe; the others
// keep skipping it until the probe's result is known.
func (n *node) available(now time.Time, retry time.Duration) bool {
	until := n.downUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return n.downUntil.CompareAndSwap(until, now.Add(retry).UnixNano())
}

// up reports whether n is not marked down, without claiming a probe.
func (n *node) up(now time.Time) bool {
	until := n.downUntil.Load()
	return until == 0 || now.UnixNano() >= until
}

// pick chooses the node for a new or relocated session: an available
// non-failover node, spread round-robin; a failover node only when no other
// node is available; when none is, any non-failover node (the backup will
// fail and be retried, the session lives on locally). exclude is skipped.
func (ns *nodeSet) pick(now time.Time, retry time.Duration, exclude *node) *node {
	if len(ns.list) == 0 {
		return nil
	}
	start := int(ns.rr.Add(1))
	for _, wantFailover := range []bool{false, true} {
		for i := range ns.list {
			n := ns.list[(start+i)%len(ns.list)]
			if n == exclude || n.failover != wantFailover || !n.up(now) {
				continue
			}
			return n
		}
	}
	for i := range ns.list {
		n := ns.list[(start+i)%len(ns.list)]
		if n != exclude && !n.failover {
			return n
		}
	}
	return ns.list[rand.IntN(len(ns.list))]
}

// nodeFailure reports whether err means the node is unreachable or hung,
// as opposed to a protocol answer (miss, not stored, server error).
func nodeFailure(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var cte *memcache.ConnectTimeoutError
	return errors.As(err, &ne) || errors.As(err, &cte) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, memcache.ErrNoServers)
}

// errNodeDown is returned, without any wait, for an operation on a node
// that is marked down.
var errNodeDown = errors.New("core: memcached node is down")

// nodeTimeout reports whether err is a timeout (the node is slow or
// stalled) rather than a refused or broken connection (the node is gone).
func nodeTimeout(err error) bool {
	var ne net.Error
	var cte *memcache.ConnectTimeoutError
	return errors.As(err, &cte) || errors.As(err, &ne) && ne.Timeout()
}

// brokenConn reports whether err came from a connection that died under
// the client (memcached restarted: every pooled connection is dead), as
// opposed to a refused dial or a timeout.
func brokenConn(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op != "dial" && !oe.Timeout()
}

// downInterval is how long a node that failed with err is skipped. A
// timeout means slow, not dead: the node is skipped only briefly (at most a
// second), so a stall of a few hundred milliseconds does not move sessions
// away for NodeRetryInterval.
func (m *Manager) downInterval(err error) time.Duration {
	if nodeTimeout(err) {
		return min(m.cfg.NodeRetryInterval, max(time.Second, 2*m.cfg.OperationTimeout))
	}
	return m.cfg.NodeRetryInterval
}

// otherNodeUp reports whether a node other than n is up.
func (m *Manager) otherNodeUp(n *node) bool {
	now := time.Now()
	for _, x := range m.nodes.Load().list {
		if x != n && x.up(now) {
			return true
		}
	}
	return false
}

// do runs one memcached operation on n, counts it, and marks n down on a
// node failure. It does not wait on a node that is marked down.
func (m *Manager) do(n *node, op opKind, f func(c *memcache.Client) error) error {
	if !n.available(time.Now(), m.cfg.NodeRetryInterval) {
		n.ops.add(op, resultSkipped)
		return errNodeDown
	}
	return m.try(n, op, f)
}

// doEvenIfDown is do without the down check: one more try of a node that
// just timed out, before a backup copy is preferred to it (slow is not
// dead).
func (m *Manager) doEvenIfDown(n *node, op opKind, f func(c *memcache.Client) error) error {
	return m.try(n, op, f)
}

// try runs f on n's client and records the outcome in n's health.
func (m *Manager) try(n *node, op opKind, f func(c *memcache.Client) error) error {
	err := f(n.client)
	if err != nil && brokenConn(err) {
		// A restarted memcached leaves every pooled connection dead, and
		// the client hands out the newest first: drop them all and try
		// once on a fresh connection, so one restart costs one error, not
		// one per pooled connection. (A write that met a dead connection
		// never reached the new process; the retry is safe, and session
		// writes are conditional anyway.)
		n.client.Close()
		n.ops.add(op, resultError)
		err = f(n.client)
	}
	switch {
	case err == nil:
		n.ops.add(op, resultOK)
	case errors.Is(err, memcache.ErrCacheMiss):
		n.ops.add(op, resultMiss)
	case errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCASConflict):
		n.ops.add(op, resultNotStored)
	default:
		n.ops.add(op, resultError)
	}
	if nodeFailure(err) {
		n.client.Close() // no dead connection is handed out after this
		if nodeTimeout(err) && !m.otherNodeUp(n) {
			// Slow, and the only node left: skipping it would fail every
			// request at once, waiting on it only slows them down.
			return fmt.Errorf("core: node %s: %w", n.ID, err)
		}
		if n.downUntil.Swap(time.Now().Add(m.downInterval(err)).UnixNano()) == 0 {
			m.stats.nodeDown.Add(1)
			m.logOnce("node down", "node", n.ID, "addr", n.Addr, "err", err)
		}
		return fmt.Errorf("core: node %s: %w", n.ID, err)
	}
	if err == nil || errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCASConflict) {
		if n.downUntil.Load() != 0 && n.downUntil.Swap(0) != 0 {
			m.stats.nodeUp.Add(1)
			m.cfg.Logger.Info("gomsm: node up", "node", n.ID, "addr", n.Addr)
		}
	}
	return err
}

// nodeFor returns the configured node an incoming id names, nil (counted
// as an invalid id) when no such node is configured.
func (m *Manager) nodeFor(id sessionID) *node {
	n := m.nodes.Load().byID[id.node]
	if n == nil {
		m.stats.invalidIDs.Add(1)
		m.stats.unknownNode.Add(1)
	}
	return n
}
