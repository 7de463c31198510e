package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/nodes"
)

// Non-sticky locking: which requests lock (LockingMode, "auto" learning),
// the local lock of a session on this instance, and its lock items on the
// session's node and backup node.

// shouldLock decides, per LockingMode, whether the request locks.
func (m *Manager) shouldLock(s *Session) (bool, string) {
	path := s.r.URL.Path
	if m.cfg.RoutePattern != nil {
		if p := m.cfg.RoutePattern(s.r); p != "" {
			path = p
		}
	}
	switch {
	case m.cfg.LockingMode == LockAll:
		return true, path
	case m.cfg.lockURI != nil:
		return m.cfg.lockURI.MatchString(s.r.URL.Path) || path != s.r.URL.Path && m.cfg.lockURI.MatchString(path), path
	case m.cfg.LockingMode == LockAuto:
		m.ns.mu.Lock()
		readOnly := m.ns.learned[path] >= autoLearnAfter
		m.ns.mu.Unlock()
		return !readOnly, path
	}
	return false, path
}

// learn records whether a request on path changed its session, for "auto"
// locking: unchanged N times in a row makes the path read-only; a change
// unlearns it.
func (m *Manager) learn(path string, changed bool) {
	m.ns.mu.Lock()
	defer m.ns.mu.Unlock()
	if changed {
		delete(m.ns.learned, path)
		return
	}
	if _, ok := m.ns.learned[path]; !ok && len(m.ns.learned) >= maxLearnedPaths {
		return
	}
	m.ns.learned[path]++
}

// nsLock takes the request's lock (lock) and counts the wait. When it
// cannot be had, the request gives its hold back and is rejected with the
// lock's error, or, with ProceedOnLockTimeout, runs without it (nil; the
// handler learns it from Session.Err). Called with s.mu held.
func (m *Manager) nsLock(s *Session, ls *nsLockState, id sessionID, n *nodes.Node) error {
	lockedAt := time.Now()
	err := m.lock(s.r.Context(), ls, id, n)
	m.stats.lockWait.since(lockedAt)
	if err == nil {
		return nil
	}
	m.stats.lockTimeouts.Add(1)
	if !m.cfg.ProceedOnLockTimeout {
		m.unlock(s)
		return err
	}
	m.logOnce("session lock not acquired: proceeding without it (ProceedOnLockTimeout)", "node", n.ID, "err", err)
	ls.unlocked = proceedUnlocked(err)
	return nil
}

// proceedUnlocked is the error Session.Err reports for a request that
// runs without its lock after the lock error err: ErrLockTimeout, with
// the cause when it was another (no node could hold the lock).
func proceedUnlocked(err error) error {
	const how = "the handler runs without it (ProceedOnLockTimeout)"
	if errors.Is(err, ErrLockTimeout) {
		return fmt.Errorf("%w: %s", ErrLockTimeout, how)
	}
	return fmt.Errorf("%w: %s: %w", ErrLockTimeout, how, cause(err))
}

// lockKeyFor is the key of a session's lock item. It names the session by
// its base alone, so that requests with the id before and after a
// relocation or promotion (same base, other node) take the same lock.
func lockKeyFor(prefix, base string) string { return lockPrefix + prefix + base }

// errLockNodesDown: no node could be asked for the lock.
var errLockNodesDown = errors.New("core: no memcached node could hold the session lock")

// lock takes the local lock of the session, then its lock item on the
// session's node and on its backup node, retrying with a growing backoff
// until LockWait (or until the client goes away). The lock is held when
// every node that could be asked granted it: two instances that both
// reach a node always meet there, so a node that is down for one of them
// (or for both) does not let them hold the session at once. A node that
// holds someone else's lock makes the request give back what it got and
// try again, so two requests never wait on each other's half.
func (m *Manager) lock(ctx context.Context, ls *nsLockState, id sessionID, n *nodes.Node) error {
	deadline := time.Now().Add(m.cfg.LockWait)
	m.ns.mu.Lock()
	act := m.ns.active[id.base]
	if act == nil {
		act = newActive()
		m.ns.active[id.base] = act
	}
	act.refs++ // keeps the entry while we wait for its lock
	m.ns.mu.Unlock()
	ls.act = act

	waited, err := m.lockLocal(ctx, act, deadline)
	if err != nil {
		return err
	}
	ls.localHeld = true
	return m.lockItems(ctx, ls, id, n, deadline, waited)
}

// lockItems takes the memcached side of the lock: the lock item on n and
// on the backup copy's node, retried with backoff while another request
// holds it, until deadline. waited: the local lock had to wait (counted
// once, as a lock wait).
func (m *Manager) lockItems(ctx context.Context, ls *nsLockState, id sessionID, n *nodes.Node, deadline time.Time, waited bool) error {
	ls.lockKey, ls.token = lockKeyFor(m.cfg.KeyPrefix, id.base), newToken()
	item := &memcache.Item{Key: ls.lockKey, Value: []byte(ls.token), Expiration: m.lockTTL()}
	targets := []*nodes.Node{n}
	if bn := m.backupNodeFor(n); bn != nil {
		targets = append(targets, bn)
	}
	errs := make([]error, len(targets))
	backoff := lockBackoffStart
	for {
		busy := m.addLockItems(ls, item, targets, errs)
		if !busy && len(ls.lockNodes) > 0 {
			if waited {
				m.stats.lockWaits.Add(1)
			}
			return nil
		}
		m.releaseLockItems(ls)
		if !busy {
			return errLockNodesDown
		}
		waited = true
		if time.Now().Add(backoff).After(deadline) {
			m.stats.lockWaits.Add(1)
			return ErrLockTimeout
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, lockBackoffMax)
	}
}

// addLockItems tries once to add the lock item on every node at once (errs
// has room for one answer per node); ls.lockNodes are the nodes that
// granted it. busy: a node holds someone else's lock.
func (m *Manager) addLockItems(ls *nsLockState, item *memcache.Item, targets []*nodes.Node, errs []error) (busy bool) {
	ls.addSent = time.Now()
	onEach(targets, func(i int, x *nodes.Node) {
		errs[i] = m.nodes.Do(x, nodes.OpAdd, func(c *memcache.Client) error { return c.Add(item) })
	})
	ls.lockNodes = ls.lockNodes[:0]
	for i, err := range errs {
		switch {
		case err == nil:
			ls.lockNodes = append(ls.lockNodes, targets[i])
		case errors.Is(err, memcache.ErrNotStored):
			busy = true
		}
	}
	return busy
}

// lockLocal takes the session's local lock (the requests of this instance
// queue here), waiting until deadline or until the client goes away. It
// reports whether it had to wait.
func (m *Manager) lockLocal(ctx context.Context, act *activeSession, deadline time.Time) (waited bool, err error) {
	select {
	case <-act.lock:
		return false, nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-act.lock:
		return true, nil
	case <-t.C:
		m.stats.lockWaits.Add(1)
		return true, ErrLockTimeout
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// releaseLockItems deletes the request's lock items on all its lock nodes
// at once. An item added less than safeHold ago is surely still ours: add
// only succeeds on an absent key, and memcached keeps an item for at least
// its expiry less one second (its clock ticks in seconds), so nobody else
// can have added one; a plain delete releases it in one round trip. An
// older one may have expired and been taken by another holder: it is
// deleted only if it is still ours (gets, then cas with a negative
// expiration: a compare-and-delete). The one case the plain delete does
// not cover, a lock item memcached evicted or lost in a restart within
// that time, already let another request take the lock meanwhile; its
// writes are versioned, so a change is refused rather than lost.
func (m *Manager) releaseLockItems(ls *nsLockState) {
	fast := time.Since(ls.addSent) < m.safeHold()
	onEach(ls.lockNodes, func(_ int, n *nodes.Node) {
		if fast {
			m.nodes.Do(n, nodes.OpDelete, func(c *memcache.Client) error { return c.Delete(ls.lockKey) })
			return
		}
		var it *memcache.Item
		err := m.nodes.Do(n, nodes.OpGets, func(c *memcache.Client) error {
			var err error
			it, err = c.Get(ls.lockKey)
			return err
		})
		if err == nil && string(it.Value) == ls.token {
			m.nodes.Do(n, nodes.OpCAS, func(c *memcache.Client) error { return nodes.CompareAndDelete(n, c, it, m.lockTTL()) })
		}
	})
	ls.lockNodes = ls.lockNodes[:0]
}

// onEach runs f for every node of ns at once, the first on the calling
// goroutine: with one node (or a lock held on one node only) no goroutine
// is started and none is woken, which is most of a lock's cost beside its
// round trip.
func onEach(ns []*nodes.Node, f func(i int, n *nodes.Node)) {
	var wg sync.WaitGroup
	for i := 1; i < len(ns); i++ {
		wg.Go(func() { f(i, ns[i]) })
	}
	if len(ns) > 0 {
		f(0, ns[0])
	}
	wg.Wait()
}

// safeHold is how long after its add a lock item is surely still there:
// its expiry in seconds, less one second for memcached's clock and one
// more for the clocks of the two machines running at slightly different
// rates and for the add's own trip. 0 (always compare) for a lock expiry
// of 2 s or less.
func (m *Manager) safeHold() time.Duration {
	return max(0, time.Duration(m.lockTTL())*time.Second-2*time.Second)
}

// unlock releases what the request holds: its lock items, the local lock,
// and its share of the active entry.
func (m *Manager) unlock(s *Session) {
	ls := s.ns
	if ls == nil {
		return
	}
	s.ns = nil
	m.releaseLockItems(ls)
	if ls.act == nil {
		return
	}
	if ls.localHeld {
		ls.act.lock <- struct{}{}
	}
	m.ns.mu.Lock()
	defer m.ns.mu.Unlock()
	ls.act.refs--
	if ls.act.refs <= 0 {
		for base, a := range m.ns.active {
			if a == ls.act {
				delete(m.ns.active, base)
				break
			}
		}
	}
}

// newToken returns a random lock-holder token.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lockTTL is the expiry of a lock item in seconds: LockExpiry, rounded up.
func (m *Manager) lockTTL() int32 {
	return int32(max(1, (m.cfg.LockExpiry+time.Second-1)/time.Second))
}
