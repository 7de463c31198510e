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
	"github.com/gomsm/msm/codec"
)

// Non-sticky mode: any instance may serve any request, so memcached is the
// store of record. Every request loads its session from its node (no local
// copy that could be stale); a changed session is written to its node and
// to the next node ("bak:"+key) in parallel, both before the first byte of
// the response, so that a 2xx means the change is on two nodes (or on the
// only one up) and survives the loss of either; a request that must lock
// is serialised against every other request of its session, on this
// instance by a local lock and across instances by a lock item on the
// session's node and its backup node.

const (
	backupPrefix = "bak:"
	lockPrefix   = "lock:"
	// autoLearnAfter is how many requests in a row must leave the session
	// unchanged before "auto" locking treats their path as read-only.
	autoLearnAfter = 5
	// maxLearnedPaths bounds the path table of "auto" locking, so paths
	// with ids in them cannot grow it without end.
	maxLearnedPaths  = 4096
	lockBackoffStart = 10 * time.Millisecond
	lockBackoffMax   = 200 * time.Millisecond
	// knownVersions bounds the table of session versions this instance
	// has seen (see nonSticky.known).
	knownVersions = 1 << 16
)

// ErrLockTimeout is the text of the 503 a request gets when it could not
// take its session's lock within LockWait (unless ProceedOnLockTimeout).
var ErrLockTimeout = errors.New("core: session lock not acquired within LockWait")

// ErrSaveFailed is the text of the 503 a non-sticky request gets when its
// change to the session could not be stored: no node took it, memcached
// holds a newer version (saved by a request that did not wait for the
// lock), or the session is too large. The change is not acknowledged; the
// client's cookie still names the last stored state.
var ErrSaveFailed = errors.New("core: session change not stored in memcached")

// nonSticky holds the state of non-sticky mode.
type nonSticky struct {
	mu sync.Mutex
	// active: sessions in use by requests on this instance, shared so that
	// concurrent requests see each other's changes (one object, one load).
	active map[string]*activeSession
	// learned: "auto" locking's read-only path table: path -> requests in
	// a row that left the session unchanged.
	learned map[string]int
	// backupTouched rate-limits TTL refreshes of backup copies.
	backupTouched *ttlSet
	// known: the highest version of each session this instance loaded or
	// stored. A backup copy older than it is never promoted (that would
	// roll the session back), and an id not in it is looked up before a
	// lock is written for it (unknown ids never cost a lock write).
	known *versionMemo
}

type activeSession struct {
	d    *sessionData
	refs int
	// lock serialises the locking requests of this session on this
	// instance; a token in the channel means free.
	lock chan struct{}
}

func newNonSticky(maxInactive time.Duration) *nonSticky {
	every := touchInterval(maxInactive)
	if every > time.Hour {
		every = time.Hour
	}
	return &nonSticky{
		active:        map[string]*activeSession{},
		learned:       map[string]int{},
		backupTouched: newTTLSet(65536, every),
		known:         newVersionMemo(knownVersions),
	}
}

// nsLockState is a request's hold on its session in non-sticky mode.
type nsLockState struct {
	act       *activeSession
	localHeld bool
	// lockNodes are the nodes whose lock item this request holds, under
	// lockKey with its holder token.
	lockNodes []*node
	lockKey   string
	token     string
	path      string // the path "auto" locking learns on
	// mutableKeys are the attributes this request read as values that can
	// be changed in place; they are encoded again at its end, so a change
	// made after the first byte (and its save) is not lost.
	mutableKeys []string
}

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

// nsResolve finds the session of a non-sticky request: it takes the locks
// the LockingMode asks for, then loads the session from memcached (or
// joins the requests of this instance that already have it). A non-nil
// error means the request must be answered 503 with it, before its
// handler runs: the lock could not be had (ErrLockTimeout), or memcached
// could not say whether the session exists (ErrUnavailable). Called with
// s.mu held.
func (m *Manager) nsResolve(s *Session, id sessionID) error {
	n := m.nodeFor(id)
	if n == nil {
		return nil
	}
	now := time.Now()
	if m.negative.has(s.incoming, now) {
		return nil // memcached did not have it a moment ago: no traffic
	}
	ls := &nsLockState{}
	s.ns = ls
	var locks bool
	locks, ls.path = m.shouldLock(s)
	if locks {
		if _, seen := m.ns.known.get(id.base); !seen {
			// An id this instance has not seen: make sure it exists before
			// a lock item is written for it, so a flood of made-up ids
			// costs one read each per second, never a write.
			d, err := m.nsLoad(id, n, false)
			if err != nil {
				return m.unavailable(err)
			}
			if d == nil {
				m.negative.add(s.incoming, now)
				return nil
			}
		}
		lockedAt := time.Now()
		err := m.lock(s.r.Context(), ls, id, n)
		m.stats.lockWait.since(lockedAt)
		if err != nil {
			m.stats.lockTimeouts.Add(1)
			if !m.cfg.ProceedOnLockTimeout {
				m.unlock(s)
				return err
			}
			m.logOnce("session lock not acquired: proceeding without it (ProceedOnLockTimeout)", "node", n.ID, "err", err)
		}
	}
	found, err := m.nsJoin(ls, id, n)
	if err != nil {
		m.unlock(s)
		return m.unavailable(err)
	}
	if !found {
		m.negative.add(s.incoming, now)
	}
	if ls.act != nil {
		m.ns.mu.Lock() // a locking request's nsJoin may replace act.d meanwhile
		s.d = ls.act.d
		m.ns.mu.Unlock()
		s.hold()
	}
	return nil
}

// unavailable counts and logs a load that memcached could not answer and
// returns the error the request is answered with.
func (m *Manager) unavailable(err error) error {
	m.stats.unavailable.Add(1)
	m.logOnce("session unavailable: memcached did not answer its load", "err", err)
	return ErrUnavailable
}

// nsJoin points the request at the active entry of its session, loading the
// session from memcached when no request of this instance has it loaded,
// or when this request holds the lock (it must see the latest saved state,
// so its load is its own, not shared). A request that took part in locking
// already holds a reference to the entry (lock). It reports whether the
// session exists, and an error when memcached could not tell.
func (m *Manager) nsJoin(ls *nsLockState, id sessionID, n *node) (bool, error) {
	ns := m.ns
	fresh := ls.localHeld
	if !fresh {
		ns.mu.Lock()
		act := ls.act
		if act == nil {
			act = ns.active[id.base]
		}
		if act != nil && act.d != nil && liveFor(act.d, id.base) {
			if ls.act == nil {
				act.refs++
				ls.act = act
			}
			ns.mu.Unlock()
			return true, nil
		}
		ns.mu.Unlock()
	}
	d, err := m.nsLoad(id, n, fresh)
	if err != nil {
		return false, err
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	act := ls.act
	if act == nil {
		if d == nil {
			return false, nil
		}
		act = ns.active[id.base]
		if act == nil {
			act = newActive()
			ns.active[id.base] = act
		}
		act.refs++
		ls.act = act
	}
	if fresh || act.d == nil || !liveFor(act.d, id.base) {
		act.d = d // a locking request sees what it loaded, even nothing
	}
	return act.d != nil, nil
}

// liveFor reports whether d is still the live session of base: not renamed
// (RenewID) nor invalidated since it was loaded. A request with an old id
// must never join a renamed session: that would hand it the new id.
func liveFor(d *sessionData, base string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.base == base && !d.removed
}

// nsDetach makes the active entry of base forget d (renamed, invalidated,
// or holding a change that could not be stored), so later requests with
// the id load it again.
func (m *Manager) nsDetach(base string, d *sessionData) {
	if m.ns == nil {
		return
	}
	m.ns.mu.Lock()
	defer m.ns.mu.Unlock()
	if act := m.ns.active[base]; act != nil && act.d == d {
		act.d = nil
	}
}

// nsActive returns the session of base that requests on this instance are
// using now, nil if none.
func (m *Manager) nsActive(base string) *sessionData {
	if m.ns == nil {
		return nil
	}
	m.ns.mu.Lock()
	defer m.ns.mu.Unlock()
	if act := m.ns.active[base]; act != nil {
		return act.d
	}
	return nil
}

func newActive() *activeSession {
	act := &activeSession{lock: make(chan struct{}, 1)}
	act.lock <- struct{}{}
	return act
}

// nsLoad reads the session from its node and, in parallel and in one round
// trip, from the node after it, which holds the backup copy ("bak:"+key)
// and the session itself if it was moved there. The copy with the highest
// version wins, so neither a node that comes back with old data nor a
// client still holding the id from before a move can roll a session back.
// (Reading only the primary would be one command less, but an instance
// that never saw the primary fail could not tell that its copy is old.)
// A primary read that timed out is tried once more (slow is not dead). A
// winning backup copy is promoted: new id on the backup's node, new cookie,
// new backup on the node after that. A backup copy older than the version
// this instance last saw is never used while the primary is unreachable:
// the session is then unavailable (error), not rolled back. It returns
// nil, nil when memcached has no session with this id.
func (m *Manager) nsLoad(id sessionID, n *node, fresh bool) (*sessionData, error) {
	load := func() (any, error) {
		key := keyFor(m.cfg.KeyPrefix, id.base, id.node)
		bn := m.backupNodeFor(n)
		var items map[string]*memcache.Item
		var berr error
		var wg sync.WaitGroup
		if bn != nil {
			bakKey, movedKey := backupPrefix+key, keyFor(m.cfg.KeyPrefix, id.base, bn.ID)
			wg.Go(func() {
				berr = m.do(bn, opGet, func(c *memcache.Client) error {
					var err error
					items, err = c.GetMulti([]string{bakKey, movedKey})
					return err
				})
			})
		}
		primary, perr := m.load(id, n, key)
		if perr != nil && nodeTimeout(perr) {
			primary, perr = m.loadEvenIfDown(id, n, key)
		}
		wg.Wait()
		if errors.Is(perr, errSessionGone) {
			return nil, nil // invalidated or renamed: never fall back to a copy
		}
		best := primary
		var promoted bool
		if bn != nil {
			moved, bak := items[keyFor(m.cfg.KeyPrefix, id.base, bn.ID)], items[backupPrefix+key]
			if moved != nil && isTombstone(moved.Value) || bak != nil && isTombstone(bak.Value) {
				return nil, nil // moved, then invalidated or renamed
			}
			if moved != nil {
				if d := m.decode(sessionID{base: id.base, node: bn.ID}, bn, moved.Value); d != nil && (best == nil || d.version > best.version) {
					best, promoted = d, false
				}
			}
			if bak != nil {
				if d := m.decode(id, bn, bak.Value); d != nil && (best == nil || d.version > best.version) {
					best, promoted = d, true
				}
			}
		}
		if best == nil {
			if perr != nil || berr != nil {
				// One node could not answer and the other has nothing: the
				// session may well exist. Unavailable, not gone.
				return nil, errors.Join(perr, berr)
			}
			return nil, nil
		}
		if known, ok := m.ns.known.get(id.base); ok && best.version < known && (perr != nil || berr != nil) {
			// A node is unreachable and the copies left are older than
			// what this instance saw stored: serving them would roll the
			// session back.
			return nil, fmt.Errorf("copy of version %d is older than version %d: %w", best.version, known, errors.Join(perr, berr))
		}
		m.noteLoaded(best)
		if best != primary {
			m.stats.loadsFromBackup.Add(1)
		}
		if promoted {
			m.stats.relocated.Add(1)
			best.node = bn.ID
			best.backedUp = false // written under its new key when the request ends
			m.cfg.Logger.Info("gomsm: session promoted from its backup copy", "session", fingerprint(id.base), "to", bn.ID)
		}
		return best, nil
	}
	var v any
	var err error
	if fresh {
		v, err = load() // a lock holder must not share a load begun before its lock
	} else {
		v, err, _ = m.loads.Do(keyFor(m.cfg.KeyPrefix, id.base, id.node), load)
	}
	if err != nil || v == nil {
		return nil, err
	}
	return v.(*sessionData), nil
}

// noteLoaded counts a loaded session and remembers its version.
func (m *Manager) noteLoaded(d *sessionData) {
	m.stats.loaded.Add(1)
	m.ns.known.note(d.base, d.version)
}

// loadEvenIfDown is load on a node that just timed out: one more try.
func (m *Manager) loadEvenIfDown(id sessionID, n *node, key string) (*sessionData, error) {
	var item *memcache.Item
	err := m.doEvenIfDown(n, opGet, func(c *memcache.Client) error {
		var err error
		item, err = c.GetAndTouch(key, expiration(m.cfg.MaxInactive, time.Now()))
		return err
	})
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return nil, nil
	case err != nil:
		return nil, err
	case isTombstone(item.Value):
		return nil, errSessionGone
	}
	return m.decode(id, n, item.Value), nil
}

// backupNodeFor is the node that holds the backup copy of a session whose
// primary is n: the next node after n, in configured order, that is up.
func (m *Manager) backupNodeFor(n *node) *node {
	ns := m.nodes.Load()
	if n == nil || len(ns.list) < 2 {
		return nil
	}
	at := 0
	for i, x := range ns.list {
		if x.ID == n.ID {
			at = i
		}
	}
	now := time.Now()
	for i := 1; i < len(ns.list); i++ {
		if x := ns.list[(at+i)%len(ns.list)]; x.up(now) {
			return x
		}
	}
	return nil
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
func (m *Manager) lock(ctx context.Context, ls *nsLockState, id sessionID, n *node) error {
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

	waited := false
	select {
	case <-act.lock:
	default:
		waited = true
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-act.lock:
			t.Stop()
		case <-t.C:
			m.stats.lockWaits.Add(1)
			return ErrLockTimeout
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	ls.localHeld = true

	ls.lockKey, ls.token = lockKeyFor(m.cfg.KeyPrefix, id.base), newToken()
	item := &memcache.Item{Key: ls.lockKey, Value: []byte(ls.token), Expiration: int32(max(1, (m.cfg.LockExpiry+time.Second-1)/time.Second))}
	nodes := []*node{n}
	if bn := m.backupNodeFor(n); bn != nil {
		nodes = append(nodes, bn)
	}
	errs := make([]error, len(nodes))
	backoff := lockBackoffStart
	for {
		var wg sync.WaitGroup
		for i, x := range nodes {
			wg.Go(func() { errs[i] = m.do(x, opAdd, func(c *memcache.Client) error { return c.Add(item) }) })
		}
		wg.Wait()
		ls.lockNodes = ls.lockNodes[:0]
		busy := false
		for i, err := range errs {
			switch {
			case err == nil:
				ls.lockNodes = append(ls.lockNodes, nodes[i])
			case errors.Is(err, memcache.ErrNotStored):
				busy = true
			}
		}
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

// releaseLockItems deletes the request's lock items, each only if it is
// still ours (gets, then cas with a negative expiration: a compare-and-
// delete), on all its lock nodes at once.
func (m *Manager) releaseLockItems(ls *nsLockState) {
	var wg sync.WaitGroup
	for _, n := range ls.lockNodes {
		wg.Go(func() {
			var it *memcache.Item
			err := m.do(n, opGets, func(c *memcache.Client) error {
				var err error
				it, err = c.Get(ls.lockKey)
				return err
			})
			if err == nil && string(it.Value) == ls.token {
				it.Expiration = -1
				m.do(n, opCAS, func(c *memcache.Client) error { return c.CompareAndSwap(it) })
			}
		})
	}
	wg.Wait()
	ls.lockNodes = ls.lockNodes[:0]
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

// nsSave stores a changed session now (the caller is about to send the
// first byte, or the handler has returned): both copies, in parallel,
// before it returns. An error means the change is not stored where the
// mode promises (ErrSaveFailed): the request must not be acknowledged.
// An unchanged session only has its backup's TTL refreshed (the load's gat
// refreshed the primary's). Called with s.mu held.
func (m *Manager) nsSave(s *Session) error {
	d := s.d
	if d == nil || !m.backupOn() || s.saveErr != nil {
		return s.saveErr // a failed save is not tried again by the same request
	}
	now := time.Now()
	// One save of a session at a time on this instance: the writes of a
	// session leave in the order they were made, and a second request
	// finds the first one's state stored (unchanged) instead of racing it.
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.mu.Lock()
	if d.removed || !s.accessed && d.backedUp {
		d.mu.Unlock()
		return nil // (a promoted copy is written even when the handler did not use it)
	}
	if !s.changed && d.backedUp {
		d.mu.Unlock()
		if !s.saved { // just written by this request: nothing to refresh
			m.nsTouchBackup(d, now)
		}
		return nil
	}
	s.changed = false
	j, unchanged, err := m.nextBackup(d, now)
	d.mu.Unlock()
	if j == nil {
		if unchanged {
			if !s.saved {
				m.nsTouchBackup(d, now)
			}
			return nil
		}
		m.stats.savesFailed.Add(1)
		m.nsDetach(d.base, d)
		s.saveErr = fmt.Errorf("%w: %w", ErrSaveFailed, err) // too large, or not encodable
		return s.saveErr
	}
	if err := m.nsWrite(d, j); err != nil {
		m.stats.savesFailed.Add(1)
		m.stats.backupsFailed.Add(1)
		m.logOnce("session change not stored", "session", fingerprint(d.base), "err", err)
		d.mu.Lock()
		if d.seq == j.seq {
			d.backedUp = false
		}
		d.mu.Unlock()
		// The change was not acknowledged: later requests load the last
		// stored state rather than build on it.
		m.nsDetach(d.base, d)
		s.saveErr = err
		return err
	}
	m.stats.backupsOK.Add(1)
	m.ns.known.note(d.base, j.version)
	// The backup copy was just written with a fresh TTL: no touch for it
	// at the end of this request.
	m.ns.backupTouched.add(d.base, now)
	s.saved = true
	return nil
}

// nsWrite stores j on the session's node and its backup node. When the
// session's node cannot take it, the session moves to the backup node (new
// id, same base): stored there and copied to the node after it.
func (m *Manager) nsWrite(d *sessionData, j *backupJob) error {
	start := time.Now()
	defer m.stats.backupLatency.since(start)
	d.mu.Lock()
	n, base := m.nodeOf(d), d.base
	d.mu.Unlock()
	var perr, err error = errNodeDown, errNodeDown
	if n != nil {
		perr, err = m.storeCopies(n, keyFor(m.cfg.KeyPrefix, base, n.ID), j)
	}
	if err == nil {
		return nil
	}
	if perr == nil || !unreachable(perr) {
		return fmt.Errorf("%w: %w", ErrSaveFailed, err)
	}
	to := m.backupNodeFor(n)
	if n == nil {
		to = m.nodes.Load().pick(time.Now(), m.cfg.NodeRetryInterval, nil)
	}
	if to == nil || to == n || !to.up(time.Now()) {
		return fmt.Errorf("%w: %w", ErrSaveFailed, err)
	}
	if _, err := m.storeCopies(to, keyFor(m.cfg.KeyPrefix, base, to.ID), j); err != nil {
		return fmt.Errorf("%w: %w", ErrSaveFailed, err)
	}
	d.mu.Lock()
	d.node = to.ID
	d.mu.Unlock()
	m.stats.relocated.Add(1)
	m.cfg.Logger.Info("gomsm: session relocated", "session", fingerprint(base), "to", to.ID)
	return nil
}

// storeCopies writes j under key on n (the primary copy) and under
// "bak:"+key on the next node up (the backup copy), in parallel. It returns
// the primary's error, and the save's: nil when the primary took the
// change and so did a backup node, or no other node is up to take it.
func (m *Manager) storeCopies(n *node, key string, j *backupJob) (primaryErr, err error) {
	bn := m.backupNodeFor(n)
	var berr error
	var wg sync.WaitGroup
	if bn != nil {
		wg.Go(func() { berr = m.writeVersioned(bn, backupPrefix+key, j.blob, j.version, j.ttl) })
	}
	perr := m.writeVersioned(n, key, j.blob, j.version, j.ttl)
	wg.Wait()
	if perr != nil {
		return perr, perr
	}
	for berr != nil && unreachable(berr) {
		// The backup node failed (and is marked down now): the next node
		// up takes the copy; with none up, the change lives on one node.
		next := m.backupNodeFor(n)
		if next == nil || next == bn {
			// No other node is up (next == bn: bn is being probed by
			// another request after its retry interval, not known up).
			m.stats.savesOneCopy.Add(1)
			return nil, nil
		}
		bn = next
		berr = m.writeVersioned(bn, backupPrefix+key, j.blob, j.version, j.ttl)
	}
	return nil, berr
}

// publicSaveError is what the client of a request whose save failed is
// told: the sentinels only, never the cause (node addresses are no one's
// business outside).
func publicSaveError(err error) error {
	if errors.Is(err, ErrSessionTooLarge) {
		return fmt.Errorf("%w: %w", ErrSaveFailed, ErrSessionTooLarge)
	}
	return ErrSaveFailed
}

// unreachable reports whether err means the node could not be asked (down,
// refused, hung), as opposed to an answer.
func unreachable(err error) bool {
	return errors.Is(err, errNodeDown) || nodeFailure(err)
}

// nsTouchBackup refreshes the TTL of the backup copy, at most once per
// MaxInactive/4 per session and instance, and the primary's when the
// session has an idle timeout of its own.
func (m *Manager) nsTouchBackup(d *sessionData, now time.Time) {
	d.mu.Lock()
	mi := d.maxInactive
	d.mu.Unlock()
	ttl := expiration(mi, now)
	if mi != m.cfg.MaxInactive {
		// The load's gat set the configured TTL: give the session its own.
		m.backup.submit(&backupJob{kind: jobTouch, d: d, ttl: ttl}, false, 0)
	}
	if m.ns.backupTouched.has(d.base, now) {
		return
	}
	m.ns.backupTouched.add(d.base, now)
	m.backup.submit(&backupJob{kind: jobTouchBackup, d: d, ttl: ttl}, false, 0)
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

// nsFinish ends a non-sticky request: save what changed since the first
// byte, learn, release the locks. A change made after the first byte that
// cannot be stored can no longer turn the answer into an error: it is
// counted and logged (make changes before writing the response).
func (m *Manager) nsFinish(s *Session) {
	if s.ns != nil && len(s.ns.mutableKeys) > 0 && s.d != nil {
		// Values read before the first byte may have been changed after it.
		s.d.mu.Lock()
		for _, k := range s.ns.mutableKeys {
			if a := s.d.attributes()[k]; a != nil && a.hasValue {
				a.encOK = false
			}
		}
		s.d.mu.Unlock()
		s.changed = true
	}
	if s.saveErr == nil { // (a save that failed before the first byte was answered 503)
		if err := m.nsSave(s); err != nil {
			m.logOnce("session change made after the response started was not stored", "err", err)
		}
	}
	if s.ns != nil && m.cfg.LockingMode == LockAuto && s.d != nil {
		m.learn(s.ns.path, s.saved)
	}
	m.unlock(s)
}

// versionMemo remembers, for a bounded number of sessions (the oldest
// entry makes room for the newest), the highest version seen of each.
type versionMemo struct {
	mu   sync.Mutex
	m    map[string]uint64
	ring []string
	next int
}

func newVersionMemo(size int) *versionMemo {
	return &versionMemo{m: make(map[string]uint64), ring: make([]string, size)}
}

func (v *versionMemo) get(base string) (uint64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ver, ok := v.m[base]
	return ver, ok
}

// note records version for base unless a higher one is known.
func (v *versionMemo) note(base string, version uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	old, ok := v.m[base]
	if !ok {
		if gone := v.ring[v.next]; gone != "" {
			delete(v.m, gone)
		}
		v.ring[v.next] = base
		v.next = (v.next + 1) % len(v.ring)
	}
	v.m[base] = max(old, version)
}

// encodeEnvelope builds the stored bytes of d with attrs and checks their
// size: over MaxSessionBytes it returns them with ErrSessionTooLarge.
// Called with d.mu held.
func (m *Manager) encodeEnvelope(d *sessionData, attrs map[string][]byte) ([]byte, error) {
	env := codec.Envelope{
		Codec: m.cfg.Codec.Name(), Version: d.version,
		CreatedAt: d.created, LastAccessed: d.lastAccessed, MaxInactive: d.maxInactive,
		Attributes: attrs,
	}
	blob, err := codec.EncodeEnvelope(&env)
	if err != nil {
		return nil, err
	}
	if m.cfg.Sealer != nil {
		if blob, err = safeSeal(m.cfg.Sealer, blob, sealAAD(m.cfg.KeyPrefix, d.base)); err != nil {
			return nil, err
		}
	}
	m.stats.encodedSize.observe(uint64(len(blob)))
	if len(blob) > m.cfg.MaxSessionBytes {
		return blob, fmt.Errorf("%w: %d bytes, max %d", ErrSessionTooLarge, len(blob), m.cfg.MaxSessionBytes)
	}
	return blob, nil
}

// refuseBlob reports a session that encodeEnvelope would not let out:
// too large (logged with its size: the old copy in memcached stays) or not
// encodable.
func (m *Manager) refuseBlob(d *sessionData, blob []byte, err error) {
	if errors.Is(err, ErrSessionTooLarge) {
		m.stats.backupsTooLarge.Add(1)
		m.cfg.Logger.Error("gomsm: session not sent to memcached", "err", err, "session", fingerprint(d.base), "size", len(blob))
		return
	}
	m.stats.encodeErrors.Add(1)
	m.logOnce("session not sent to memcached: envelope cannot be encoded", "session", fingerprint(d.base), "err", err)
}

// safeSeal is Seal with a panic turned into an error (see safeMarshal).
func safeSeal(sl codec.Sealer, b, aad []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("core: sealing panicked: %v", p)
		}
	}()
	return sl.Seal(b, aad)
}

// newToken returns a random lock-holder token.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
