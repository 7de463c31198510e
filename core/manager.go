package core

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomsm/msm/core/internal/localstore"
	"github.com/gomsm/msm/core/internal/nodes"
	"golang.org/x/sync/singleflight"
)

// Manager keeps the sessions of this instance in local memory and backs
// them up to memcached. Create it with New, mount Middleware, and Close it
// on shutdown so pending backups are flushed.
type Manager struct {
	cfg      *compiledConfig
	nodes    *nodes.Cluster
	enabled  atomic.Bool
	store    *localstore.Store[*sessionData]
	negative *localstore.TTLSet
	// cookieSent: when this instance last renewed each persistent cookie
	// (unix nanoseconds; persist.go).
	cookieSent *localstore.VersionMemo
	// checked: sessions with a principal checked against its index within
	// PrincipalCheckInterval (principal.go).
	checked *localstore.TTLSet
	loads   singleflight.Group
	backup  backupQueue
	mode    mode        // sticky or non-sticky, picked by New
	events  *eventQueue // nil without Config.OnEvent (events.go)
	ns      *nonSticky  // nil in sticky mode; the non-sticky mode's state
	stats   stats
	// nodeChecks counts the refiller's successful looks at a node (tests
	// wait for the first).
	nodeChecks atomic.Uint64

	stop      chan struct{}
	sweeperWG sync.WaitGroup
	closeOnce sync.Once

	logMu   sync.Mutex
	logSeen map[string]time.Time
}

// New returns a Manager for cfg. Configuration errors (a bad node list, a
// bad pattern, contradictory cookie settings) are returned, never panicked.
func New(cfg Config) (*Manager, error) {
	cc, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:        cc,
		negative:   localstore.NewTTLSet(4096, time.Second),
		cookieSent: localstore.NewVersionMemo(recentSessions),
		checked:    localstore.NewTTLSet(recentSessions, cc.PrincipalCheckInterval),
		stop:       make(chan struct{}),
		logSeen:    map[string]time.Time{},
	}
	m.nodes = m.newCluster()
	m.store = localstore.New(cc.MaxLocalSessions, func(d *sessionData) string { return d.base }, m.evictable, &m.stats.evicted)
	ns, err := m.buildNodeSet(cc.Nodes, cc.FailoverNodes, nil)
	if err != nil {
		return nil, err // the node list's errors name the node and what is wrong
	}
	m.nodes.Store(ns)
	m.enabled.Store(!cc.Disabled)
	if err := m.pickMode(len(ns.List)); err != nil {
		return nil, err
	}
	m.backup = newBackupQueue(m, cc.BackupWorkers)
	m.events = newEventQueue(m, cc.OnEvent)
	m.sweeperWG.Add(1)
	go m.sweeper()
	m.mode.start()
	if len(ns.List) == 0 {
		cc.Logger.Info("gomsm: no memcached nodes configured: sessions are local to this instance")
	} else if !cc.Disabled {
		go m.probeNodes(ns.List) // logs which nodes are up; New does not wait
	}
	return m, nil
}

// pickMode sets the Manager's mode, the one place that tells sticky and
// non-sticky apart; a non-sticky configuration that would lose sessions
// is refused.
func (m *Manager) pickMode(nodeCount int) error {
	cc := m.cfg
	if cc.NonSticky {
		switch {
		case nodeCount == 0:
			return errors.New("core: NonSticky needs Nodes: memcached is the session store")
		case cc.Disabled:
			return errors.New("core: NonSticky with Disabled would lose every session: memcached is the store")
		case cc.AttributeFilter != "":
			return errors.New("core: AttributeFilter with NonSticky would lose the attributes it keeps out of memcached: there is no local copy")
		}
		if cc.Route != "" {
			// Any instance serves any request: a route would only make
			// every other instance re-send the cookie.
			cc.Logger.Info("gomsm: Route is ignored in non-sticky mode", "route", cc.Route)
			cc.Route = ""
		}
		m.ns = newNonSticky(m, cc.MaxInactive)
		m.mode = m.ns
	} else {
		m.mode = stickyMode{m}
	}
	return nil
}

// Close flushes pending backups, stops the background work and closes the
// memcached connections. Sessions stay readable in memory until the
// Manager is dropped, but no more backups are made by workers.
func (m *Manager) Close() error {
	var errs []error
	m.closeOnce.Do(func() {
		close(m.stop)
		m.sweeperWG.Wait()
		m.backup.Close()
		m.events.close() // after the backups, which may still emit
		for _, n := range m.nodes.Load().List {
			if err := n.Close(); err != nil {
				errs = append(errs, fmt.Errorf("core: closing node %s: %w", n.ID, err))
			}
		}
	})
	return errors.Join(errs...)
}

// SetEnabled switches memcached use on or off at runtime. Disabled, the
// Manager keeps sessions local and sends nothing to memcached.
//
// In non-sticky mode memcached is the session store, so it cannot be
// switched off: SetEnabled(false) is refused (and logged).
func (m *Manager) SetEnabled(on bool) {
	if !on && m.mode.storeOfRecord() {
		m.cfg.Logger.Error("gomsm: memcached cannot be disabled in non-sticky mode: it is the session store")
		return
	}
	m.enabled.Store(on)
	m.cfg.Logger.Info("gomsm: memcached use switched", "enabled", on)
}

// Enabled reports whether memcached is in use.
func (m *Manager) Enabled() bool { return m.enabled.Load() }

// SetNodes replaces the node list and the failover nodes at runtime, with
// the syntax of Config.Nodes and Config.FailoverNodes. Sessions on a node
// that is no longer listed move to another node on their next backup.
func (m *Manager) SetNodes(list, failover string) error {
	old := m.nodes.Load()
	ns, err := m.buildNodeSet(list, failover, old)
	if err != nil {
		return err
	}
	m.nodes.Store(ns)
	// Sessions of removed nodes must be written to their new node even if
	// unchanged; clients of removed nodes are closed.
	m.store.Each(func(d *sessionData) bool {
		d.mu.Lock()
		if ns.ByID[d.node] == nil {
			d.backedUp = false
		}
		d.mu.Unlock()
		return true
	})
	old.CloseRemoved(ns)
	m.cfg.Logger.Info("gomsm: nodes changed", "nodes", len(ns.List))
	return nil
}

// Invalidate destroys the session with this id, locally and in memcached,
// as Session.Invalidate does (for an admin or a "log out everywhere"). It
// reports whether the id was well-formed.
func (m *Manager) Invalidate(id string) bool {
	sid, ok := parseID(id)
	if !ok {
		return false
	}
	if d := m.store.Get(sid.base); d != nil {
		m.drop(d)
		m.stats.invalidated.Add(1)
		return true
	}
	if d := m.mode.lookupActive(sid.base); d != nil {
		m.drop(d) // in use by a request now: its save must not bring it back
		m.stats.invalidated.Add(1)
		return true
	}
	if n := m.nodes.Load().ByID[sid.node]; n != nil && m.backupOn() {
		d := &sessionData{base: sid.base, node: sid.node, worker: workerFor(sid.base)}
		m.drop(d)
		m.stats.invalidated.Add(1)
	}
	return true
}

// evictable reports whether dropping d from local memory loses nothing:
// no request holds it and memcached has its last state (its last backup
// reached memcached). Called with the store shard's lock held.
func (m *Manager) evictable(d *sessionData) bool {
	if !m.backupOn() {
		return false // local only: no session is safe to drop
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inUse == 0 && d.backedUp && d.savedSeq == d.seq && !d.removed
}

// backupOn reports whether sessions go to memcached.
func (m *Manager) backupOn() bool {
	return m.enabled.Load() && len(m.nodes.Load().List) > 0
}

// workerFor is the backup worker of the session with this base: the same
// for every copy of the session this instance ever holds, so its writes
// leave in the order they were made even across reloads.
func workerFor(base string) int {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(base); i++ {
		h = (h ^ uint32(base[i])) * 16777619
	}
	return int(h & 0x7fffffff)
}

// create makes a new session on a node chosen for it.
func (m *Manager) create() *sessionData {
	now := time.Now()
	base := newBase()
	d := &sessionData{
		base: base, created: instantOf(now), lastAccessed: instantOf(now),
		maxInactive: m.cfg.MaxInactive, attrs: map[string]*attr{}, worker: workerFor(base),
	}
	if n := m.nodes.Load().Pick(now, m.cfg.NodeRetryInterval, nil); n != nil {
		d.node = n.ID
	}
	m.mode.created(d) // (non-sticky mode keeps no local copy)
	m.stats.created.Add(1)
	m.emitFor(EventCreated, d)
	return d
}

// idOf returns d's id as this instance serves it. Called with d.mu held.
func (m *Manager) idOf(d *sessionData) string {
	return formatID(d.base, d.node, m.cfg.Route)
}

// drop removes d here and deletes its memcached copy, waiting (at most
// OperationTimeout) so that no other instance can load it afterwards.
func (m *Manager) drop(d *sessionData) {
	d.mu.Lock()
	d.removed = true
	base, n, key := d.base, m.nodeOf(d), m.keyOf(d)
	d.mu.Unlock()
	m.store.Remove(base, d)
	m.mode.detach(base, d)
	m.deleteCopies(d, n, key)
	m.emitFor(EventInvalidated, d)
}

// deleteCopies replaces the memcached copy of a session under key on n by a
// tombstone (and its non-sticky backup copy too, so that no late write
// can bring either back), waiting for each at
// most twice OperationTimeout (the job may queue behind one other).
func (m *Manager) deleteCopies(d *sessionData, n *nodes.Node, key string) {
	if n == nil || !m.backupOn() {
		return
	}
	ttl := tombstoneTTL(m.cfg.MaxInactive, time.Now())
	m.backup.submit(&backupJob{kind: jobBury, d: d, node: n, key: key, ttl: ttl}, true, 2*m.cfg.OperationTimeout)
	if bn := m.mode.copyNode(n); bn != nil {
		m.backup.submit(&backupJob{kind: jobBury, d: d, node: bn, key: backupPrefix + key, ttl: ttl}, true, 2*m.cfg.OperationTimeout)
	}
}

// rebase gives d a new base (RenewID): the old entry and memcached copy go,
// the data stays and is backed up under the new id.
func (m *Manager) rebase(d *sessionData) {
	d.mu.Lock()
	oldBase, n, oldKey := d.base, m.nodeOf(d), m.keyOf(d)
	d.base = newBase()
	d.seq++ // a backup still queued for the old base must not land under the new key
	d.backedUp = false
	d.lastSync = 0
	d.mu.Unlock()
	m.mode.renamed(d, oldBase)
	m.deleteCopies(d, n, oldKey)
	m.principalRenamed(d, oldBase)
	m.emitFor(EventRenewed, d)
}

// sweeper drops idle and over-age sessions from local memory. memcached
// drops its copies by their TTL.
func (m *Manager) sweeper() {
	defer m.sweeperWG.Done()
	every := 30 * time.Second
	if mi := m.cfg.MaxInactive / 4; mi > 0 && mi < every {
		every = mi
	}
	if ca := m.cfg.CompactAfter / 2; ca > 0 && ca < every {
		every = ca
	}
	every = max(every, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.sweep(now)
		}
	}
}

func (m *Manager) sweep(now time.Time) {
	dead := m.store.Sweep(func(d *sessionData) bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.expired(now, m.cfg.MaxLifetime) {
			return true
		}
		if m.cfg.CompactAfter > 0 && d.lastAccessed.age(instantOf(now)) >= m.cfg.CompactAfter && d.pack(m.cfg.Codec) {
			m.stats.packed.Add(1)
		}
		return false
	})
	for _, d := range dead {
		d.mu.Lock()
		was := d.removed
		d.removed = true
		d.mu.Unlock()
		if !was {
			m.emitFor(EventExpired, d)
		}
	}
	m.stats.expired.Add(uint64(len(dead)))
}

// logOnce logs msg at warning level at most once per 10 seconds per
// message and node (the value of a "node" attribute), so a dead node or a
// flood of bad input does not flood the log.
func (m *Manager) logOnce(msg string, args ...any) {
	key := msg
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "node" {
			key += "|" + fmt.Sprint(args[i+1])
		}
	}
	m.logEvery(key, msg, args...)
}

// logEvery logs msg at warning level at most once per 10 seconds per key.
func (m *Manager) logEvery(key, msg string, args ...any) {
	now := time.Now()
	m.logMu.Lock()
	last, seen := m.logSeen[key]
	if seen && now.Sub(last) < 10*time.Second {
		m.logMu.Unlock()
		return
	}
	if len(m.logSeen) > 10000 {
		clear(m.logSeen)
	}
	m.logSeen[key] = now
	m.logMu.Unlock()
	m.cfg.Logger.Warn("gomsm: "+msg, args...)
}

// expire removes an idle session found on lookup before the sweeper did.
// It reports whether this call removed it (it was not removed before).
func (m *Manager) expire(d *sessionData) bool {
	d.mu.Lock()
	wasRemoved := d.removed
	d.removed = true
	d.mu.Unlock()
	m.store.Remove(d.base, d)
	if !wasRemoved {
		m.stats.expired.Add(1)
	}
	return !wasRemoved
}
