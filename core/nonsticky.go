package core

import (
	"github.com/gomsm/msm/core/internal/localstore"
	"github.com/gomsm/msm/core/internal/nodes"
	"sync"
	"time"
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
	// decodedSessions and decodedBytes bound the memo of decodes
	// (nonSticky.decoded): 16,384 sessions or 32 MiB (a 1 KB session
	// takes about 2.3 KB there: its stored bytes and its block); one of
	// more than 8 MiB there (stored bytes of about 4 MiB) is never kept.
	decodedSessions = 1 << 14
	decodedBytes    = 32 << 20
	// loadedCopyOverhead is what a loadedCopy holds besides its block.
	loadedCopyOverhead = 64
)

// nonSticky holds the state of non-sticky mode.
type nonSticky struct {
	m  *Manager
	mu sync.Mutex
	// active: sessions in use by requests on this instance, shared so that
	// concurrent requests see each other's changes (one object, one load).
	active map[string]*activeSession
	// learned: "auto" locking's read-only path table: path -> requests in
	// a row that left the session unchanged.
	learned map[string]int
	// backupTouched rate-limits TTL refreshes of backup copies.
	backupTouched *localstore.TTLSet
	// known: the highest version of each session this instance loaded or
	// stored. A backup copy older than it is never promoted (that would
	// roll the session back), and an id not in it is looked up before a
	// lock is written for it (unknown ids never cost a lock write).
	known *localstore.VersionMemo
	// primaryFresh: primary keys whose TTL this instance set to the
	// configured MaxInactive (a gat, or a write) less than a quarter of
	// it ago. Their next load reads with gets, which needs no refresh of
	// the TTL and returns the CAS id; a stale or missing entry only means
	// a gat, as without it.
	primaryFresh *localstore.TTLSet
	// seen: the CAS id and version flags of each copy as this instance's
	// load read it, so that the save that follows sends its cas at once
	// instead of reading the copy again (writeVersioned).
	seen *localstore.CASMemo
	// decoded: the last decode of each session's stored bytes, with the
	// bytes, so that a load of unchanged bytes is not decoded again
	// (nsDecode; Stats.DecodesSaved counts those).
	decoded *localstore.DecodeMemo[*loadedCopy]
}

type activeSession struct {
	d    *sessionData
	refs int
	// lock serialises the locking requests of this session on this
	// instance; a token in the channel means free.
	lock chan struct{}
}

func newNonSticky(m *Manager, maxInactive time.Duration) *nonSticky {
	every := touchInterval(maxInactive)
	if every > time.Hour {
		every = time.Hour
	}
	return &nonSticky{
		m:             m,
		active:        map[string]*activeSession{},
		learned:       map[string]int{},
		backupTouched: localstore.NewTTLSet(65536, every),
		known:         localstore.NewVersionMemo(knownVersions),
		primaryFresh:  localstore.NewTTLSet(65536, every),
		seen:          localstore.NewCASMemo(65536),
		decoded:       localstore.NewDecodeMemo[*loadedCopy](decodedSessions, decodedBytes),
	}
}

// The mode (see mode.go).

// beforeHandler takes the lock (if the LockingMode asks for one) and loads
// the session of a request that carries an id, before its handler runs:
// no lock, or no answer from memcached, is a 503 now.
func (ns *nonSticky) beforeHandler(s *Session) error {
	if s.incoming == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns.m.resolve(s)
	if s.lookup == lookupRejected {
		return s.lookupErr
	}
	return nil
}

// resolve validates the id and finds its session (nsResolve); a failure
// rejects the request. Called with s.mu held.
func (ns *nonSticky) resolve(s *Session) {
	m := ns.m
	id, ok := parseID(s.incoming)
	if !ok {
		m.stats.invalidIDs.Add(1)
		s.lookedUp()
		return
	}
	if !m.backupOn() {
		s.lookedUp()
		return
	}
	if err := m.nsResolve(s, id); err != nil {
		s.lookupReject(err)
		return
	}
	s.lookedUp()
}

// beforeFirstByte saves the session: read-your-writes, and no 2xx for a
// change that is not stored. The session is in memcached before the
// client can see the response (and the save may move it: new id).
// Called with s.mu held.
func (ns *nonSticky) beforeFirstByte(s *Session) {
	if err := ns.m.nsSave(s); err != nil {
		s.failErr = publicSaveError(err) // headersDueLocked answers 503
	}
}

// finish saves before the headers go out when none went out yet, so a
// save that fails can still turn the answer into a 503; then nsFinish.
// Called with s.mu held.
func (ns *nonSticky) finish(s *Session, rw *responseWriter) {
	if !s.replyStarted() {
		rw.headersDueLocked()
	}
	ns.m.nsFinish(s)
}

// abandon drops the shared object of a request whose handler panicked
// (nothing was saved after the panic), so the next request loads the last
// saved state, and frees the locks. Called with s.mu held.
func (ns *nonSticky) abandon(s *Session) {
	if s.ns != nil && s.ns.act != nil {
		ns.mu.Lock()
		s.ns.act.d = nil
		ns.mu.Unlock()
	}
	ns.m.unlock(s)
}

// created does nothing: non-sticky mode keeps no local copy.
func (ns *nonSticky) created(*sessionData) {}

// renamed makes later requests with the old id load it again.
func (ns *nonSticky) renamed(d *sessionData, oldBase string) { ns.detach(oldBase, d) }

// detach makes the active entry of base forget d (renamed, invalidated,
// or holding a change that could not be stored), so later requests with
// the id load it again. Its last decode is forgotten too: an ended
// session's attributes are not kept in memory until the memo wraps.
func (ns *nonSticky) detach(base string, d *sessionData) {
	ns.decoded.Forget(base)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if act := ns.active[base]; act != nil && act.d == d {
		act.d = nil
	}
}

// lookupActive returns the session of base that requests on this instance are
// using now, nil if none.
func (ns *nonSticky) lookupActive(base string) *sessionData {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if act := ns.active[base]; act != nil {
		return act.d
	}
	return nil
}

// copyNode is the node of the backup copy (backupNodeFor).
func (ns *nonSticky) copyNode(n *nodes.Node) *nodes.Node { return ns.m.backupNodeFor(n) }

// storeOfRecord is true: memcached is the session store.
func (ns *nonSticky) storeOfRecord() bool { return true }

// start does nothing: non-sticky mode has no background work of its own.
func (ns *nonSticky) start() {}

// nsLockState is a request's hold on its session in non-sticky mode.
type nsLockState struct {
	act       *activeSession
	localHeld bool
	// lockNodes are the nodes whose lock item this request holds, under
	// lockKey with its holder token.
	lockNodes []*nodes.Node
	lockKey   string
	token     string
	// addSent is when the add of the lock items was sent: until
	// safeHold after it, the items are surely still ours (see
	// releaseLockItems).
	addSent time.Time
	path    string // the path "auto" locking learns on
	// unlocked, when set, wraps ErrLockTimeout: ProceedOnLockTimeout let
	// the request run without its lock (Session.Err reports it).
	unlocked error
	// mutableKeys are the attributes this request read as values that can
	// be changed in place; they are encoded again at its end, so a change
	// made after the first byte (and its save) is not lost.
	mutableKeys []string
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
	if m.negative.Has(s.incoming, now) {
		return nil // memcached did not have it a moment ago: no traffic
	}
	ls := &nsLockState{}
	s.ns = ls
	var locks bool
	locks, ls.path = m.shouldLock(s)
	if locks {
		if _, seen := m.ns.known.Get(id.base); !seen {
			// An id this instance has not seen: make sure it exists before
			// a lock item is written for it, so a flood of made-up ids
			// costs one read each per second, never a write.
			d, err := m.nsLoad(id, n, false)
			if err != nil {
				return m.unavailable(err)
			}
			if d == nil {
				m.negative.Add(s.incoming, now)
				return nil
			}
		}
		if err := m.nsLock(s, ls, id, n); err != nil {
			return err
		}
	}
	found, err := m.nsJoin(ls, id, n)
	if err != nil {
		m.unlock(s)
		return m.unavailable(err)
	}
	if !found {
		m.negative.Add(s.incoming, now)
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
func (m *Manager) nsJoin(ls *nsLockState, id sessionID, n *nodes.Node) (bool, error) {
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

func newActive() *activeSession {
	act := &activeSession{lock: make(chan struct{}, 1)}
	act.lock <- struct{}{}
	return act
}
