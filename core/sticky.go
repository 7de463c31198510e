package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/nodes"
)

// Sticky mode: the instance serves a session from its local memory and
// backs it up to memcached after the request; memcached is read only when
// the session is not here (another instance served it, this one
// restarted), was taken over by another route, or has not been synced for
// a while. This file holds the mode (stickyMode) and its mechanisms: the
// lookup (find, revalidate, loadShared) and the save at the end of the
// request (save, maybeTouch).

// stickyMode is the mode of a Manager without Config.NonSticky.
type stickyMode struct{ m *Manager }

// beforeHandler does nothing: a sticky session is looked up lazily, on
// its first use by the handler.
func (stickyMode) beforeHandler(*Session) error { return nil }

// resolve finds the session the client named, locally or in memcached.
// Called with s.mu held.
func (st stickyMode) resolve(s *Session) {
	m := st.m
	d, err := m.find(s.incoming)
	if err != nil {
		m.stats.unavailable.Add(1)
		s.lookupUnavailable(fmt.Errorf("%w (%w)", ErrUnavailable, cause(err)))
		return
	}
	s.d = d
	s.hold()
	s.lookedUp()
}

// beforeFirstByte does nothing: a sticky session is saved after the
// response.
func (stickyMode) beforeFirstByte(*Session) {}

// finish backs a changed session up and refreshes an unchanged one's TTL.
// Called with s.mu held.
func (st stickyMode) finish(s *Session, _ *responseWriter) {
	s.checkWatched()
	st.m.freeze(s) // first: the backup then takes its encodings from the block
	st.m.save(s)
}

// abandon drops the local copy of a session whose handler panicked, so the
// next request reloads the last backup rather than keep a half-done
// change; a session created by the request is forgotten. Called with s.mu
// held.
func (st stickyMode) abandon(s *Session) {
	m := st.m
	d := s.d
	if d == nil {
		return
	}
	if s.life == lifeCreated || m.backupOn() {
		// Let the backups queued by earlier requests land first, or the
		// reload would miss them (and its next save overwrite them).
		m.backup.submit(&backupJob{kind: jobFlush, d: d}, true, 2*m.cfg.OperationTimeout)
		m.store.Remove(d.base, d)
	}
}

// created keeps a new session in local memory.
func (st stickyMode) created(d *sessionData) { st.m.store.Put(d) }

// renamed moves d's local entry from oldBase to its new base.
func (st stickyMode) renamed(d *sessionData, oldBase string) {
	st.m.store.Remove(oldBase, d)
	st.m.store.Put(d)
}

// detach does nothing: the local store entry is the only one, and the
// caller removes it.
func (stickyMode) detach(string, *sessionData) {}

// lookupActive returns nil: sticky sessions in use are in the local store.
func (stickyMode) lookupActive(string) *sessionData { return nil }

// copyNode returns nil: a sticky session has one copy in memcached, and a
// relocated one goes wherever pick sends it.
func (stickyMode) copyNode(*nodes.Node) *nodes.Node { return nil }

// storeOfRecord is false: memcached holds backups, so it can be switched
// off (SetEnabled).
func (stickyMode) storeOfRecord() bool { return false }

// start runs the refiller, which sends sessions again to a node that came
// back empty.
func (st stickyMode) start() {
	m := st.m
	if len(m.nodes.Load().List) > 0 {
		m.sweeperWG.Add(1)
		go m.refiller()
	}
}

// find returns the session that the cookie value names, or nil when there
// is none. It returns an error, and no session, only when the session is
// neither here nor known to be absent: memcached could not answer (a
// failure is not a miss).
func (m *Manager) find(value string) (*sessionData, error) {
	id, ok := parseID(value)
	if !ok {
		m.stats.invalidIDs.Add(1)
		return nil, nil
	}
	now := time.Now()
	if d := m.store.Get(id.base); d != nil {
		d.mu.Lock()
		if d.removed || d.expired(now, m.cfg.MaxLifetime) {
			d.mu.Unlock()
			if m.expire(d) {
				m.emitFor(EventExpired, d)
			}
			return nil, nil
		}
		// Another instance served this session since we did (its route is
		// on the id): our copy may be stale, take memcached's.
		takenOver := id.route != "" && m.cfg.Route != "" && id.route != m.cfg.Route && m.backupOn()
		// A copy not synced with memcached for a while may be stale: another
		// instance may have changed, renamed or invalidated the session.
		stale := !takenOver && m.backupOn() && d.backedUp && d.sinceSync(now) >= min(touchInterval(d.maxInactive), 30*time.Minute)
		if !takenOver && !stale {
			d.lastAccessed = instantOf(now)
			d.mu.Unlock()
			return d, nil
		}
		d.mu.Unlock()
		if stale {
			return m.revalidate(d, now), nil
		}
		if fresh, err := m.loadShared(id); err != nil {
			return d, nil // memcached unreachable: our copy is all there is
		} else if fresh == nil {
			m.store.Remove(d.base, d)
			return nil, nil
		} else {
			return fresh, nil
		}
	}
	if !m.backupOn() {
		return nil, nil
	}
	return m.loadShared(id)
}

// revalidate checks a local copy against memcached with one gat, which
// also refreshes the TTL (it replaces the touch that was due): a tombstone
// means the session was invalidated or renamed elsewhere; a higher version
// means another instance saved it since, and its copy replaces ours.
func (m *Manager) revalidate(d *sessionData, now time.Time) *sessionData {
	d.mu.Lock()
	n, key, version, ttl := m.nodeOf(d), m.keyOf(d), d.version, expiration(d.maxInactive, now)
	id := sessionID{base: d.base, node: d.node}
	d.mu.Unlock()
	var item *memcache.Item
	err := nodes.ErrDown
	if n != nil {
		err = m.nodes.Do(n, nodes.OpGet, func(c *memcache.Client) error {
			var err error
			item, err = nodes.GetAndTouch(n, c, key, ttl)
			return err
		})
	}
	switch {
	case err == nil && isTombstone(item.Value):
		m.expire(d)
		return nil
	case err == nil:
		if fresh := m.decode(id, n, item.Value); fresh != nil && fresh.version > version {
			m.stats.loaded.Add(1)
			return m.store.Replace(fresh)
		}
	case errors.Is(err, memcache.ErrCacheMiss):
		d.mu.Lock()
		d.backedUp = false // gone from memcached: send it again
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.lastAccessed = instantOf(now)
	if err == nil {
		d.lastSync = now.UnixNano()
	}
	d.mu.Unlock()
	return d
}

// loadShared loads id from memcached into local memory, once for all the
// concurrent requests that want it, and remembers misses for a second.
// Both key on the memcached key (base and node), never on the base alone:
// a miss of base-n2 says nothing about base-n1.
func (m *Manager) loadShared(id sessionID) (*sessionData, error) {
	n := m.nodeFor(id)
	if n == nil {
		return nil, nil
	}
	key := keyFor(m.cfg.KeyPrefix, id.base, id.node)
	if m.negative.Has(key, time.Now()) {
		return nil, nil
	}
	v, err, _ := m.loads.Do(key, func() (any, error) {
		d, err := m.load(id, n, key)
		if errors.Is(err, errSessionGone) {
			d, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		if d == nil {
			m.stats.loadMisses.Add(1)
			m.negative.Add(key, time.Now())
			return nil, nil
		}
		// The loaded copy replaces a stale local one (route take-over).
		m.stats.loaded.Add(1)
		d = m.store.Replace(d)
		m.emitFor(EventTakenOver, d)
		return d, nil
	})
	if err != nil || v == nil {
		return nil, err
	}
	return v.(*sessionData), nil
}

// save ends a request in sticky mode: a session whose attributes changed
// since its last backup is backed up; an unchanged one has its TTL
// refreshed at most every MaxInactive/4.
func (m *Manager) save(s *Session) {
	d := s.d
	if d == nil || !s.use.has(flagUsed) || !m.backupOn() {
		return
	}
	now := time.Now()
	d.mu.Lock()
	if d.removed {
		d.mu.Unlock()
		return
	}
	// A session whose node is known to be down (or was removed by
	// SetNodes) is sent again, which moves it to a live node.
	if n := m.nodeOf(d); n == nil || !n.Up(now) {
		d.backedUp = false
	}
	if !s.use.has(flagChanged) && d.backedUp {
		m.maybeTouch(d, now)
		return
	}
	if !s.use.has(flagChanged) && d.tooLarge {
		d.mu.Unlock()
		return // still too large: encoding it again would say so again
	}
	j, unchanged, _ := m.nextBackup(d, now)
	if j == nil {
		if unchanged {
			m.maybeTouch(d, now)
			return
		}
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	if m.cfg.SyncBackup {
		if !m.backup.submit(j, true, m.cfg.BackupTimeout) {
			m.stats.backupsTimedOut.Add(1)
		}
		return
	}
	m.backup.submit(j, false, 0)
}

// maybeTouch queues a TTL refresh of an unchanged session when the last one
// is older than a quarter of its idle timeout. Called with d.mu held; it
// unlocks it.
func (m *Manager) maybeTouch(d *sessionData, now time.Time) {
	if d.sinceSync(now) < touchInterval(d.maxInactive) {
		d.mu.Unlock()
		return
	}
	d.lastSync = now.UnixNano()
	j := &backupJob{kind: jobTouch, d: d, ttl: expiration(d.maxInactive, now)}
	d.mu.Unlock()
	m.backup.submit(j, false, 0)
}
