package nodes

import (
	"errors"
	"io"
	"strings"
	"sync/atomic"

	"github.com/bradfitz/gomemcache/memcache"
)

// Servers and proxies without gat or touch. memcached has had gat since
// 1.5.3 and touch since 1.4.8, but not every server of its protocol has
// them: twemproxy (nutcracker) 0.5 closes the connection on a gat, older
// servers answer ERROR. A node learns at the first such answer that it
// lacks the command and from then on reads and refreshes without it:
//
//	gat key        -> get key (gets), then touch key
//	touch key      -> gets key, then cas key with the same value and the
//	                  new expiry (a cas that lost to a newer write is fine:
//	                  the newer copy has its own expiry)
//	cas, expiry -1 -> (a compare-and-delete; twemproxy refuses a negative
//	                  expiry) cas to a released value that expires like
//	                  the item would, then touch key -1 to delete it now
//
// Each use of a fallback is counted per node and command (Fallbacks), so
// the cost shows: the fallback of gat is two round trips instead of one.

// commands lacking on a node, and the uses of their fallbacks.
type commands struct {
	noGAT, noTouch, noNegativeExpiry  atomic.Bool
	gatFalls, touchFalls, casDelFalls atomic.Uint64
}

// Fallbacks returns how many times the node used the fallback of each
// command it lacks ("gat", "touch", "cas_delete"); empty while it has them all.
func (n *Node) Fallbacks() map[string]uint64 {
	out := map[string]uint64{}
	if v := n.cmds.gatFalls.Load(); v > 0 || n.cmds.noGAT.Load() {
		out["gat"] = v
	}
	if v := n.cmds.touchFalls.Load(); v > 0 || n.cmds.noTouch.Load() {
		out["touch"] = v
	}
	if v := n.cmds.casDelFalls.Load(); v > 0 || n.cmds.noNegativeExpiry.Load() {
		out["cas_delete"] = v
	}
	return out
}

// GetAndTouch reads key from n through c and sets its expiry to ttl: one
// gat, or get + touch on a node that has no gat.
func GetAndTouch(n *Node, c *memcache.Client, key string, ttl int32) (*memcache.Item, error) {
	if !n.cmds.noGAT.Load() {
		item, err := c.GetAndTouch(key, ttl)
		if !unknownCommand(err) || !lacks(c, key, func() error { _, err := c.GetAndTouch(key, ttl); return err }) {
			return item, err
		}
		n.cmds.noGAT.Store(true)
	}
	n.cmds.gatFalls.Add(1)
	item, err := c.Get(key)
	if err != nil {
		return nil, err
	}
	return item, refresh(n, c, item, ttl)
}

// Touch sets the expiry of key on n to ttl: touch, or gets + cas on a node
// that has no touch.
func Touch(n *Node, c *memcache.Client, key string, ttl int32) error {
	if !n.cmds.noTouch.Load() {
		err := c.Touch(key, ttl)
		if !unknownCommand(err) || !lacks(c, key, func() error { return c.Touch(key, ttl) }) {
			return err
		}
		n.cmds.noTouch.Store(true)
	}
	item, err := c.Get(key)
	if err != nil {
		return err
	}
	return refresh(n, c, item, ttl)
}

// CompareAndDelete deletes it (just read, with its cas id) unless it
// changed since: a cas with expiry -1, or, on a node that refuses a
// negative expiry, a cas to a released value that expires in ttl seconds
// (as the item would have) and then a touch that deletes it.
func CompareAndDelete(n *Node, c *memcache.Client, it *memcache.Item, ttl int32) error {
	del := *it
	del.Expiration = -1
	if !n.cmds.noNegativeExpiry.Load() {
		err := c.CompareAndSwap(&del)
		if !unknownCommand(err) || !lacks(c, it.Key, func() error { return c.CompareAndSwap(&del) }) {
			return err
		}
		n.cmds.noNegativeExpiry.Store(true)
	}
	n.cmds.casDelFalls.Add(1)
	released := *it
	released.Value, released.Expiration = []byte("released"), ttl
	if err := c.CompareAndSwap(&released); err != nil {
		return err // changed meanwhile: not ours to delete
	}
	if n.cmds.noTouch.Load() {
		return nil // it expires in ttl; nobody takes it for a holder's
	}
	return c.Touch(it.Key, -1)
}

// refresh sets the expiry of item, just read with its cas id, to ttl.
func refresh(n *Node, c *memcache.Client, item *memcache.Item, ttl int32) error {
	if !n.cmds.noTouch.Load() {
		err := c.Touch(item.Key, ttl)
		if !unknownCommand(err) || !lacks(c, item.Key, func() error { return c.Touch(item.Key, ttl) }) {
			return err
		}
		n.cmds.noTouch.Store(true)
	}
	n.cmds.touchFalls.Add(1)
	refreshed := *item
	refreshed.Expiration = ttl
	err := c.CompareAndSwap(&refreshed)
	if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCacheMiss) {
		return nil // written or removed meanwhile: that write set its own expiry
	}
	return err
}

// unknownCommand reports whether err may be a server's answer to a
// command it does not have: an ERROR line, or the connection closed on
// it (twemproxy). A closed connection is also what a restarted server
// leaves in the pool, so lacks confirms it.
func unknownCommand(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), `"ERROR\r\n"`)
}

// lacks tells whether the server behind c lacks the command that retry
// sends: on fresh connections, the command fails again the same way while
// a plain get of the same key is answered. (A restarted server answers
// both on a fresh connection; a dead one answers neither.)
func lacks(c *memcache.Client, key string, retry func() error) bool {
	c.Close() // drop pooled connections: a restart's dead ones go with them
	if err := retry(); !unknownCommand(err) {
		return false
	}
	_, err := c.Get(key)
	return err == nil || errors.Is(err, memcache.ErrCacheMiss)
}
