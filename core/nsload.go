package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/localstore"
	"github.com/gomsm/msm/core/internal/nodes"
)

// Non-sticky loads: the session's node and the node after it (its backup
// copy, or the session itself after a move) are read in parallel, and the
// highest version wins.

// nsLoad reads the session from its node and, in parallel and in one round
// trip, from the node after it, which holds the backup copy ("bak:"+key)
// and the session itself if it was moved there. The copy with the highest
// version wins, so neither a node that comes back with old data nor a
// client still holding the id from before a move can roll a session back.
// (Reading only the primary would be one command less, but an instance
// that never saw the primary fail could not tell that its copy is old.)
// A primary read that timed out is tried once more (slow is not dead). A
// winning backup copy is promoted when the primary could not be read: new
// id on the backup's node, new cookie, new backup on the node after that;
// when the primary answered (older, or without the session), the session
// keeps its id and the newer copy is served. A backup copy older than the version
// this instance last saw is never used while the primary is unreachable:
// the session is then unavailable (error), not rolled back. It returns
// nil, nil when memcached has no session with this id.
func (m *Manager) nsLoad(id sessionID, n *nodes.Node, fresh bool) (*sessionData, error) {
	if fresh {
		return m.nsLoadCopies(id, n) // a lock holder must not share a load begun before its lock
	}
	v, err, _ := m.loads.Do(keyFor(m.cfg.KeyPrefix, id.base, id.node), func() (any, error) {
		return m.nsLoadCopies(id, n)
	})
	d, _ := v.(*sessionData)
	return d, err
}

// nsLoadCopies is nsLoad's work: both reads, the choice, the promotion.
func (m *Manager) nsLoadCopies(id sessionID, n *nodes.Node) (*sessionData, error) {
	key := keyFor(m.cfg.KeyPrefix, id.base, id.node)
	bn := m.backupNodeFor(n)
	since := m.ns.decoded.Since() // before any read: see nsDecode
	backup := m.readBackupNode(id, key, bn)
	primary, perr := m.nsLoadPrimary(id, n, key, since)
	if perr != nil && nodes.Timeout(perr) {
		primary, perr = m.loadEvenIfDown(id, n, key, since)
	}
	items, berr := backup()
	if errors.Is(perr, errSessionGone) {
		m.ns.decoded.Drop(id.base)
		return nil, nil // invalidated or renamed: never fall back to a copy
	}
	best, promoted, gone := m.newestCopy(id, key, primary, bn, items, since)
	if gone {
		m.ns.decoded.Drop(id.base)
		return nil, nil // moved, then invalidated or renamed
	}
	if best == nil {
		if perr != nil || berr != nil {
			// One node could not answer and the other has nothing: the
			// session may well exist. Unavailable, not gone.
			return nil, errors.Join(perr, berr)
		}
		m.ns.decoded.Drop(id.base) // gone: its decode is of no more use
		return nil, nil
	}
	if leftBehind(perr, best != primary && !promoted, items[backupPrefix+key]) {
		return nil, fmt.Errorf("only a copy the session may have moved away from: %w", perr)
	}
	if known, ok := m.ns.known.Get(id.base); ok && best.version < known && (perr != nil || berr != nil) {
		// A node is unreachable and the copies left are older than
		// what this instance saw stored: serving them would roll the
		// session back.
		return nil, fmt.Errorf("copy of version %d is older than version %d: %w", best.version, known, errors.Join(perr, berr))
	}
	m.noteLoaded(best)
	if best != primary {
		m.stats.loadsFromBackup.Add(1)
	}
	if promoted && perr == nil {
		promoted = false
		keepOnItsNode(best, primary)
	}
	if promoted {
		m.stats.relocated.Add(1)
		best.node = bn.ID
		best.backedUp = false // written under its new key when the request ends
		m.cfg.Logger.Info("gomsm: session promoted from its backup copy", "session", fingerprint(id.base), "to", bn.ID)
		m.emitFor(EventRelocated, best)
	}
	return best, nil
}

// leftBehind reports whether the copy that won is one not to serve: the
// primary could not be read (perr), and all the backup node has is a copy
// under its own key (movedWon), without the backup copy of this id (bak).
// In a ring of two that key is also where the session lived before it
// moved to its current node: the copy it left behind, older than the
// change that moved it (which went to one node alone). A session that
// really moved to the backup node left its older backup copy beside it.
// Such a load is unavailable until the primary answers, not rolled back.
func leftBehind(perr error, movedWon bool, bak *memcache.Item) bool {
	return perr != nil && movedWon && bak == nil
}

// keepOnItsNode handles a backup copy newer than what the session's node
// answered (no copy, or an older one): a write of another instance is on
// its way there (both copies are written in parallel), or the node lost or
// kept old data. The session stays on its node: moving it would give it a
// second primary key, and two instances writing under two keys compare no
// versions, so both would be acknowledged and one lost.
func keepOnItsNode(best, primary *sessionData) {
	if primary == nil {
		best.backedUp = false // the node lost it: written back when the request ends
	}
}

// readBackupNode starts reading, from bn (nil: none), the backup copy of
// key and the session itself if it was moved to bn, while the caller reads
// the primary; the function it returns waits for the answer.
func (m *Manager) readBackupNode(id sessionID, key string, bn *nodes.Node) func() (map[string]*memcache.Item, error) {
	if bn == nil {
		return func() (map[string]*memcache.Item, error) { return nil, nil }
	}
	var items map[string]*memcache.Item
	var err error
	done := make(chan struct{})
	bakKey, movedKey := backupPrefix+key, keyFor(m.cfg.KeyPrefix, id.base, bn.ID)
	go func() {
		defer close(done)
		err = m.nodes.Do(bn, nodes.OpGet, func(c *memcache.Client) error {
			var err error
			items, err = c.GetMulti([]string{bakKey, movedKey})
			return err
		})
		for k, it := range items {
			if !isTombstone(it.Value) { // never a cas over a tombstone
				m.ns.seen.Note(seenKey(bn, k), localstore.Seen{CAS: it.CasID, Flags: it.Flags})
			}
		}
	}()
	return func() (map[string]*memcache.Item, error) {
		<-done
		return items, err
	}
}

// newestCopy returns the copy with the highest version among primary and
// what was read from the backup node bn (items: the backup copy of key,
// and the session itself if it was moved to bn), and whether it is the
// backup copy (to be promoted). gone: bn holds a tombstone (moved, then
// invalidated or renamed).
func (m *Manager) newestCopy(id sessionID, key string, primary *sessionData, bn *nodes.Node, items map[string]*memcache.Item, since uint64) (best *sessionData, promoted, gone bool) {
	best = primary
	if bn == nil {
		return best, false, false
	}
	moved, bak := items[keyFor(m.cfg.KeyPrefix, id.base, bn.ID)], items[backupPrefix+key]
	if moved != nil && isTombstone(moved.Value) || bak != nil && isTombstone(bak.Value) {
		return nil, false, true
	}
	if moved != nil {
		if d := m.nsDecode(sessionID{base: id.base, node: bn.ID}, bn, moved.Value, since); d != nil && (best == nil || d.version > best.version) {
			best, promoted = d, false
		}
	}
	if bak != nil {
		if d := m.nsDecode(id, bn, bak.Value, since); d != nil && (best == nil || d.version > best.version) {
			best, promoted = d, true
		}
	}
	return best, promoted, false
}

// noteLoaded counts a loaded session and remembers its version.
func (m *Manager) noteLoaded(d *sessionData) {
	m.stats.loaded.Add(1)
	m.ns.known.Note(d.base, d.version)
}

// loadEvenIfDown is load on a node that just timed out: one more try.
func (m *Manager) loadEvenIfDown(id sessionID, n *nodes.Node, key string, since uint64) (*sessionData, error) {
	var item *memcache.Item
	err := m.nodes.DoEvenIfDown(n, nodes.OpGet, func(c *memcache.Client) error {
		var err error
		item, err = nodes.GetAndTouch(n, c, key, expiration(m.cfg.MaxInactive, time.Now()))
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
	return m.nsDecode(id, n, item.Value, since), nil
}

// backupNodeFor is the node that holds the backup copy of a session whose
// primary is n: the next node after n, in configured order, that is up.
func (m *Manager) backupNodeFor(n *nodes.Node) *nodes.Node {
	return m.nodes.Load().NextUp(n, time.Now())
}

// nsLoadPrimary is load for the session's own copy: with gat, which
// refreshes its TTL, unless this instance set that TTL less than a quarter
// of MaxInactive ago (nonSticky.primaryFresh); then with gets, which
// leaves the TTL alone and returns the CAS id, so that the save that may
// follow is one cas instead of gets + cas. The CAS id of a read is noted
// either way (gat returns none; its fallback's get does).
func (m *Manager) nsLoadPrimary(id sessionID, n *nodes.Node, key string, since uint64) (*sessionData, error) {
	start := time.Now()
	fresh := m.ns.primaryFresh.Has(key, start)
	var item *memcache.Item
	err := m.nodes.Do(n, nodes.OpGet, func(c *memcache.Client) error {
		var err error
		if fresh {
			item, err = c.Get(key)
		} else {
			item, err = nodes.GetAndTouch(n, c, key, expiration(m.cfg.MaxInactive, start))
		}
		return err
	})
	m.stats.loadLatency.since(start)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		m.ns.primaryFresh.Remove(key)
		return nil, nil
	case err != nil:
		return nil, err
	}
	if isTombstone(item.Value) {
		return nil, errSessionGone // (and never a cas over it)
	}
	m.ns.seen.Note(seenKey(n, key), localstore.Seen{CAS: item.CasID, Flags: item.Flags})
	if !fresh {
		m.notePrimaryTTL(key, expiration(m.cfg.MaxInactive, start), start)
	}
	return m.nsDecode(id, n, item.Value, since), nil
}

// nsDecode is decode for the copies a non-sticky load reads, through the
// memo of decodes (nonSticky.decoded): a session read again with the very
// bytes of its last read (the common case: no write in between) costs a
// comparison of the bytes instead of a decode, and shares the block that
// decode made. A copy that changed, by a byte, is decoded again.
// since is the memo's mark (DecodeMemo.Since) taken before value was read:
// a decode that finishes after its session was ended here is not kept.
func (m *Manager) nsDecode(id sessionID, n *nodes.Node, value []byte, since uint64) *sessionData {
	c, ok := m.ns.decoded.Get(id.base, value)
	if ok {
		m.stats.decodesSaved.Add(1)
	} else {
		if c = m.decodeCopy(id, n, value); c == nil {
			return nil
		}
		m.ns.decoded.Put(id.base, value, c, len(c.packed)+loadedCopyOverhead, since)
	}
	return m.sessionOf(id, c, time.Now())
}
