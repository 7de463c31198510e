package core

import (
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
// copy that could be stale); a changed session is written to its node
// before the first byte of the response (read-your-writes) and copied to
// "bak:"+key on the next node; a request that must lock is serialised
// against every other request of its session, on this instance by a local
// lock and across instances by a memcached lock item.

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
)

// ErrLockTimeout is the text of the 503 a request gets when it could not
// take its session's lock within LockWait and RejectOnLockTimeout is set.
var ErrLockTimeout = errors.New("core: session lock not acquired within LockWait")

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
	}
}

// nsLockState is a request's hold on its session in non-sticky mode.
type nsLockState struct {
	act       *activeSession
	localHeld bool
	lockNode  *node
	lockKey   string
	token     string
	path      string // the path "auto" locking learns on
	// nodeTrouble: the lock's node could not be asked (down), as opposed
	// to the lock being held by someone else until LockWait ran out.
	nodeTrouble bool
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
// joins the requests of this instance that already have it). It reports
// false when the lock could not be had and the request must be rejected.
// Called with s.mu held.
func (m *Manager) nsResolve(s *Session, id sessionID) bool {
	n := m.nodeFor(id)
	if n == nil {
		return true
	}
	ls := &nsLockState{}
	s.ns = ls
	var lockedAt time.Time
	var locks bool
	locks, ls.path = m.shouldLock(s)
	if locks {
		lockedAt = time.Now()
		if !m.lock(ls, id, n) && !ls.nodeTrouble {
			m.stats.lockTimeouts.Add(1)
			if m.cfg.RejectOnLockTimeout {
				m.unlock(s)
				return false
			}
			m.logOnce("session lock not acquired within LockWait: proceeding without it", "node", n.ID)
		}
		m.stats.lockWait.since(lockedAt)
	}
	m.nsJoin(ls, id, n)
	if ls.act != nil {
		s.d = ls.act.d
		s.hold()
	}
	return true
}

// nsJoin points the request at the active entry of its session, loading the
// session from memcached when no request of this instance has it loaded,
// or when this request holds the lock (it must see the latest saved state,
// so its load is its own, not shared). A request that took part in locking
// already holds a reference to the entry (lock).
func (m *Manager) nsJoin(ls *nsLockState, id sessionID, n *node) {
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
			return
		}
		ns.mu.Unlock()
	}
	d, _ := m.nsLoad(id, n, fresh)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	act := ls.act
	if act == nil {
		if d == nil {
			return
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
}

// liveFor reports whether d is still the live session of base: not renamed
// (RenewID) nor invalidated since it was loaded. A request with an old id
// must never join a renamed session: that would hand it the new id.
func liveFor(d *sessionData, base string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.base == base && !d.removed
}

// nsDetach makes the active entry of base forget d (renamed or
// invalidated), so later requests with the old id find nothing there.
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

// nsLoad reads the session from its node. When the node is down or does
// not have it, or came back recently (it may hold an old copy), it also
// reads, in one round trip, the node after it, which holds the backup copy
// ("bak:"+key) and the session itself if it was moved there: the copy with
// the highest version wins, so a node that returns with old data never
// rolls a session back. A winning backup copy is promoted: new id on the
// backup's node, new cookie, new backup on the node after that.
func (m *Manager) nsLoad(id sessionID, n *node, fresh bool) (*sessionData, error) {
	load := func() (any, error) {
		primary, perr := m.load(id, n, keyFor(m.cfg.KeyPrefix, id.base, id.node))
		if errors.Is(perr, errSessionGone) {
			return nil, nil // invalidated or renamed: never fall back to a copy
		}
		bn := m.backupNodeFor(n)
		if bn == nil || primary != nil && !n.recentlyRecovered(m.cfg.MaxInactive) {
			if primary != nil {
				m.stats.loaded.Add(1)
			}
			return primary, perr
		}
		bakKey := backupPrefix + keyFor(m.cfg.KeyPrefix, id.base, id.node)
		movedKey := keyFor(m.cfg.KeyPrefix, id.base, bn.ID)
		var items map[string]*memcache.Item
		berr := m.do(bn, opGet, func(c *memcache.Client) error {
			var err error
			items, err = c.GetMulti([]string{bakKey, movedKey})
			return err
		})
		best := primary
		var promoted bool
		if it := items[movedKey]; it != nil {
			if d := m.decode(sessionID{base: id.base, node: bn.ID}, bn, it.Value); d != nil && (best == nil || d.version > best.version) {
				best, promoted = d, false
			}
		}
		if it := items[bakKey]; it != nil {
			if d := m.decode(id, bn, it.Value); d != nil && (best == nil || d.version > best.version) {
				best, promoted = d, true
			}
		}
		if best == nil {
			return nil, errors.Join(perr, berr)
		}
		m.stats.loaded.Add(1)
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
		v, err, _ = m.loads.Do(id.base, load)
	}
	if err != nil || v == nil {
		return nil, err
	}
	return v.(*sessionData), nil
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

// lock takes the local lock of the session, then its memcached lock item,
// retrying with a growing backoff until LockWait. It reports whether both
// were taken.
func (m *Manager) lock(ls *nsLockState, id sessionID, n *node) bool {
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
			return false
		}
	}
	ls.localHeld = true

	ls.lockNode, ls.lockKey = n, lockPrefix+keyFor(m.cfg.KeyPrefix, id.base, id.node)
	ls.token = newToken()
	item := &memcache.Item{Key: ls.lockKey, Value: []byte(ls.token), Expiration: int32(max(1, (m.cfg.LockExpiry+time.Second-1)/time.Second))}
	backoff := lockBackoffStart
	for {
		err := m.do(n, opAdd, func(c *memcache.Client) error { return c.Add(item) })
		if err == nil {
			if waited {
				m.stats.lockWaits.Add(1)
			}
			return true
		}
		if !errors.Is(err, memcache.ErrNotStored) {
			// The node cannot hold a lock (down): locking is best effort,
			// and a dead node is no reason to reject the request.
			ls.token = ""
			ls.nodeTrouble = true
			return false
		}
		waited = true
		if time.Now().Add(backoff).After(deadline) {
			ls.token = ""
			m.stats.lockWaits.Add(1)
			return false
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, lockBackoffMax)
	}
}

// unlock releases what the request holds: the memcached lock, only if it is
// still ours (gets, then cas with a negative expiration: a compare-and-
// delete), the local lock, and its share of the active entry.
func (m *Manager) unlock(s *Session) {
	ls := s.ns
	if ls == nil {
		return
	}
	s.ns = nil
	if ls.token != "" {
		n, key, token := ls.lockNode, ls.lockKey, ls.token
		var it *memcache.Item
		err := m.do(n, opGets, func(c *memcache.Client) error {
			var err error
			it, err = c.Get(key)
			return err
		})
		if err == nil && string(it.Value) == token {
			it.Expiration = -1
			m.do(n, opCAS, func(c *memcache.Client) error { return c.CompareAndSwap(it) })
		}
	}
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

// nsSave writes a changed session to its node now (the caller is about to
// send the first byte, or the handler has returned), and queues the copy
// for the backup node. An unchanged session only has its backup's TTL
// refreshed (the load's gat refreshed the primary's). Called with s.mu held.
func (m *Manager) nsSave(s *Session) {
	d := s.d
	if d == nil || !m.backupOn() {
		return
	}
	now := time.Now()
	d.mu.Lock()
	if d.removed || !s.accessed && d.backedUp {
		d.mu.Unlock()
		return // (a promoted copy is written even when the handler did not use it)
	}
	if !s.changed && d.backedUp {
		d.mu.Unlock()
		if !s.saved { // just written by this request: nothing to refresh
			m.nsTouchBackup(d, now)
		}
		return
	}
	s.changed = false
	j, unchanged := m.nextBackup(d, now)
	d.mu.Unlock()
	if j == nil {
		if unchanged && !s.saved {
			m.nsTouchBackup(d, now)
		}
		return
	}
	// The primary write is synchronous: read-your-writes on any instance.
	m.runJob(j)
	m.backup.submit(&backupJob{kind: jobSetBackup, d: d, blob: j.blob, ttl: j.ttl}, false, 0)
	// The backup copy was just written with a fresh TTL: no touch for it
	// at the end of this request.
	m.ns.backupTouched.add(d.base, now)
	s.saved = true
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
// byte, learn, release the locks.
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
	m.nsSave(s)
	if s.ns != nil && m.cfg.LockingMode == LockAuto && s.d != nil {
		m.learn(s.ns.path, s.saved)
	}
	m.unlock(s)
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
