package nodes

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/mcdial"
)

// Cluster is the current node set with the settings and hooks its
// operations use. Set its fields before the first Store; they are not
// changed afterwards.
type Cluster struct {
	set atomic.Pointer[Set]
	// Retry is how long a node that failed is skipped (NodeRetryInterval).
	Retry time.Duration
	// OpTimeout is the client timeout of one operation (OperationTimeout).
	OpTimeout time.Duration
	// OnDown is called once when an up node is marked down, with the
	// error that did it; OnUp when a marked-down node answers again.
	OnDown func(n *Node, err error)
	OnUp   func(n *Node)
}

// Load returns the current node set.
func (c *Cluster) Load() *Set { return c.set.Load() }

// Store makes s the current node set.
func (c *Cluster) Store(s *Set) { c.set.Store(s) }

// ErrDown is returned, without any wait, for an operation on a node that
// is marked down. Its text reaches users through core, hence the prefix.
var ErrDown = errors.New("core: memcached node is down")

// Failure reports whether err means the node is unreachable or hung,
// as opposed to a protocol answer (miss, not stored, server error).
func Failure(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var cte *memcache.ConnectTimeoutError
	var de *mcdial.Error // TLS or authentication refused: the node cannot be used
	return errors.As(err, &ne) || errors.As(err, &cte) || errors.As(err, &de) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, memcache.ErrNoServers)
}

// Timeout reports whether err is a timeout (the node is slow or
// stalled) rather than a refused or broken connection (the node is gone).
func Timeout(err error) bool {
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
// away for the whole retry interval.
func (c *Cluster) downInterval(err error) time.Duration {
	if Timeout(err) {
		return min(c.Retry, max(time.Second, 2*c.OpTimeout))
	}
	return c.Retry
}

// Do runs one memcached operation on n, counts it, and marks n down on a
// node failure. It does not wait on a node that is marked down.
func (c *Cluster) Do(n *Node, op Op, f func(c *memcache.Client) error) error {
	if !n.Available(time.Now(), c.Retry) {
		n.Ops.add(op, resultSkipped)
		return ErrDown
	}
	return c.try(n, op, f)
}

// DoEvenIfDown is Do without the down check: one more try of a node that
// just timed out, before a backup copy is preferred to it (slow is not
// dead).
func (c *Cluster) DoEvenIfDown(n *Node, op Op, f func(c *memcache.Client) error) error {
	return c.try(n, op, f)
}

// try runs f on n's client and records the outcome in n's health.
func (c *Cluster) try(n *Node, op Op, f func(c *memcache.Client) error) error {
	// Only an operation sent while n was marked down (a probe, or one more
	// try of a slow node) tells that it is back: one that was sent before
	// another operation marked it down answers for an older n (a node
	// killed while this answer was on its way is not up).
	wasDown := n.downUntil.Load() != 0
	err := f(n.client)
	if err != nil && brokenConn(err) {
		// A restarted memcached leaves every pooled connection dead, and
		// the client hands out the newest first: drop them all and try
		// once on a fresh connection, so one restart costs one error, not
		// one per pooled connection. (A write that met a dead connection
		// never reached the new process; the retry is safe, and session
		// writes are conditional anyway.)
		n.client.Close()
		n.Ops.add(op, resultError)
		err = f(n.client)
	}
	n.Ops.add(op, resultOf(err))
	if Failure(err) {
		n.client.Close() // no dead connection is handed out after this
		if Timeout(err) && !c.Load().otherUp(n, time.Now()) {
			// Slow, and the only node left: skipping it would fail every
			// request at once, waiting on it only slows them down.
			return fmt.Errorf("core: node %s: %w", n.ID, err)
		}
		text := err.Error()
		n.lastErr.Store(&text)
		if n.downUntil.Swap(time.Now().Add(c.downInterval(err)).UnixNano()) == 0 && c.OnDown != nil {
			c.OnDown(n, err)
		}
		return fmt.Errorf("core: node %s: %w", n.ID, err)
	}
	if r := resultOf(err); r != resultError && wasDown {
		if n.downUntil.Load() != 0 && n.downUntil.Swap(0) != 0 && c.OnUp != nil {
			c.OnUp(n)
		}
	}
	return err
}

// resultOf classifies the outcome of an operation for the counts.
func resultOf(err error) result {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, memcache.ErrCacheMiss):
		return resultMiss
	case errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCASConflict):
		return resultNotStored
	default:
		return resultError
	}
}
