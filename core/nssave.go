package core

import (
	"errors"
	"sync"
	"time"

	"github.com/gomsm/msm/core/internal/localstore"
	"github.com/gomsm/msm/core/internal/nodes"
)

// Non-sticky saves: before the first byte of the response and at the end
// of the request, a changed session is written to its node and to the
// next node in parallel (versioned writes, see writeVersioned); a session
// whose node fails moves to the backup node. An unchanged session only has
// its backup copy's TTL refreshed.

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
		s.markChanged()
	}
	if s.save != saveFailed { // (a save that failed before the first byte was answered 503)
		if err := m.nsSave(s); err != nil {
			m.logOnce("session change made after the response started was not stored", "err", err)
		}
	}
	if s.ns != nil && m.cfg.LockingMode == LockAuto && s.d != nil {
		m.learn(s.ns.path, s.save != saveNone) // stored, or tried to store: it changed
	}
	m.unlock(s)
}

// nsSave stores a changed session now (the caller is about to send the
// first byte, or the handler has returned): both copies, in parallel,
// before it returns. An error means the change is not stored where the
// mode promises (ErrSaveFailed): the request must not be acknowledged.
// An unchanged session only has its backup's TTL refreshed (the load's gat
// refreshed the primary's). Called with s.mu held. (Over 50 lines: the
// cases of a save in the order they are decided, under the locks they
// need; split, the locking would be spread over functions.)
func (m *Manager) nsSave(s *Session) error {
	d := s.d
	if d == nil || !m.backupOn() || s.save == saveFailed {
		return s.saveErr // a failed save is not tried again by the same request
	}
	now := time.Now()
	// One save of a session at a time on this instance: the writes of a
	// session leave in the order they were made, and a second request
	// finds the first one's state stored (unchanged) instead of racing it.
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.mu.Lock()
	if d.removed || !s.use.has(flagUsed) && d.backedUp {
		d.mu.Unlock()
		return nil // (a promoted copy is written even when the handler did not use it)
	}
	if d.stale {
		d.mu.Unlock()
		return m.refuseStale(s)
	}
	if !s.use.has(flagChanged) && d.backedUp {
		d.mu.Unlock()
		if s.save == saveNone { // just written by this request: nothing to refresh
			m.nsTouchBackup(d, now)
		}
		return nil
	}
	s.markSaving()
	j, unchanged, err := m.nextBackup(d, now)
	d.mu.Unlock()
	if j == nil {
		if unchanged {
			if s.save == saveNone {
				m.nsTouchBackup(d, now)
			}
			return nil
		}
		m.stats.savesFailed.Add(1)
		m.ns.detach(d.base, d)
		s.saveFail(wrapSave(err)) // too large, or not encodable
		return s.saveErr
	}
	if err := m.nsWrite(d, j); err != nil {
		return m.nsWriteFailed(s, j, err)
	}
	m.stats.backupsOK.Add(1)
	m.ns.known.Note(d.base, j.version)
	// The backup copy was just written with a fresh TTL: no touch for it
	// at the end of this request.
	m.ns.backupTouched.Add(d.base, now)
	s.saveStore()
	return nil
}

// refuseStale answers the save of a request that joined its copy of the
// session before an earlier save of that copy failed: its change is built
// on a state memcached may have replaced, and saving it with the next
// version would overwrite an acknowledged write of another instance.
// Called with s.mu held.
func (m *Manager) refuseStale(s *Session) error {
	if !s.use.has(flagChanged) {
		return nil // nothing of this request's to store
	}
	m.stats.savesFailed.Add(1)
	s.saveFail(wrapSave(errStaleCopy))
	return s.saveErr
}

// nsWriteFailed records a save whose write no node took: counted, logged,
// and the session detached, so later requests load the last stored state
// rather than build on a change that was not acknowledged. Called with
// s.mu held.
func (m *Manager) nsWriteFailed(s *Session, j *backupJob, err error) error {
	d := s.d
	m.stats.savesFailed.Add(1)
	m.stats.backupsFailed.Add(1)
	m.logOnce("session change not stored", "session", fingerprint(d.base), "err", err)
	d.mu.Lock()
	if d.seq == j.seq {
		d.backedUp = false
	}
	d.stale = true
	d.mu.Unlock()
	m.ns.detach(d.base, d)
	s.saveFail(err)
	return err
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
	var perr, err error = nodes.ErrDown, nodes.ErrDown
	if n != nil {
		perr, err = m.storeCopies(n, keyFor(m.cfg.KeyPrefix, base, n.ID), j)
	}
	if err == nil {
		return nil
	}
	if perr == nil || !unreachable(perr) {
		return wrapSave(err)
	}
	to := m.backupNodeFor(n)
	if n == nil {
		to = m.nodes.Load().Pick(time.Now(), m.cfg.NodeRetryInterval, nil)
	}
	if to == nil || to == n || !to.Up(time.Now()) {
		return wrapSave(err)
	}
	if _, err := m.storeCopies(to, keyFor(m.cfg.KeyPrefix, base, to.ID), j); err != nil {
		return wrapSave(err)
	}
	d.mu.Lock()
	d.node = to.ID
	d.mu.Unlock()
	m.stats.relocated.Add(1)
	m.cfg.Logger.Info("gomsm: session relocated", "session", fingerprint(base), "to", to.ID)
	m.emitFor(EventRelocated, d)
	return nil
}

// storeCopies writes j under key on n (the primary copy) and under
// "bak:"+key on the next node up (the backup copy), in parallel. It returns
// the primary's error, and the save's: nil when the primary took the
// change and so did a backup node, or no other node is up to take it.
func (m *Manager) storeCopies(n *nodes.Node, key string, j *backupJob) (primaryErr, err error) {
	bn := m.backupNodeFor(n)
	var berr error
	var wg sync.WaitGroup
	if bn != nil {
		seen, _ := m.ns.seen.Take(seenKey(bn, backupPrefix+key))
		wg.Go(func() { berr = m.writeVersioned(bn, backupPrefix+key, j.blob, j.version, j.ttl, seen) })
	}
	start := time.Now()
	seen, _ := m.ns.seen.Take(seenKey(n, key))
	perr := m.writeVersioned(n, key, j.blob, j.version, j.ttl, seen)
	wg.Wait()
	if perr != nil {
		return perr, perr
	}
	m.notePrimaryTTL(key, j.ttl, start)
	if bn == nil && len(m.nodes.Load().List) > 1 {
		// The other nodes were already marked down: one copy, counted
		// like the one a failed backup write leaves below.
		m.stats.savesOneCopy.Add(1)
		return nil, nil
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
		berr = m.writeVersioned(bn, backupPrefix+key, j.blob, j.version, j.ttl, localstore.Seen{})
	}
	return nil, berr
}

// unreachable reports whether err means the node could not be asked (down,
// refused, hung), as opposed to an answer.
func unreachable(err error) bool {
	return errors.Is(err, nodes.ErrDown) || nodes.Failure(err)
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
	if m.ns.backupTouched.Has(d.base, now) {
		return
	}
	m.ns.backupTouched.Add(d.base, now)
	m.backup.submit(&backupJob{kind: jobTouchBackup, d: d, ttl: ttl}, false, 0)
}

// notePrimaryTTL records that the primary copy under key got the TTL ttl
// at about start: with the configured MaxInactive its next loads need no
// gat for a quarter of it (nonSticky.primaryFresh); with a session's own
// idle timeout they keep refreshing it.
func (m *Manager) notePrimaryTTL(key string, ttl int32, start time.Time) {
	if ttl == expiration(m.cfg.MaxInactive, start) && m.cfg.MaxInactive > 0 {
		m.ns.primaryFresh.Add(key, start)
	} else {
		m.ns.primaryFresh.Remove(key)
	}
}

// seenKey names a copy in nonSticky.seen: the node and the key.
func seenKey(n *nodes.Node, key string) string { return n.ID + " " + key }
