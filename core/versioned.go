package core

import (
	"errors"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/localstore"
	"github.com/gomsm/msm/core/internal/nodes"
)

// Versioned writes. Every stored copy of a session carries its version in
// the item's flags (and in the envelope). A copy is written only over an
// older version: gets, then cas (or add when the key is absent), so a write
// that arrives late (queued on another instance, or stuck in a stalled
// node's socket) never replaces a newer copy, and a tombstone is never
// overwritten. memcached's text protocol has no "set if newer"; gets+cas
// is its compare-and-set.

// errNewerStored: memcached already holds this version of the session or a
// newer one, written by someone else; the write was not made.
var errNewerStored = errors.New("core: memcached holds a newer version of the session")

// errStaleCopy: the request's session is a copy an earlier save of which
// failed on this instance; its change was not stored.
var errStaleCopy = errors.New("core: the session changed on another instance meanwhile; this change was not stored")

// versionFlags is the item flags value that carries version.
func versionFlags(version uint64) uint32 {
	return uint32(min(version, 1<<32-1))
}

// writeVersioned stores blob (version) under key on n unless n holds that
// version or a newer one (errNewerStored) or a tombstone (errSessionGone).
// seen, when its CAS is not 0, is what a read of this copy returned just
// before (non-sticky mode's load): if that was an older version, the cas
// goes out at once, and a copy that changed since makes it fail and fall
// back to reading it again. (memcached's cas compares the whole item, so
// a cas with the CAS id a read returned is the read's check, still true.)
func (m *Manager) writeVersioned(n *nodes.Node, key string, blob []byte, version uint64, ttl int32, seen localstore.Seen) error {
	item := &memcache.Item{Key: key, Value: blob, Expiration: ttl, Flags: versionFlags(version)}
	if seen.CAS != 0 && seen.Flags < item.Flags {
		item.CasID = seen.CAS
		err := m.nodes.Do(n, nodes.OpCAS, func(c *memcache.Client) error { return c.CompareAndSwap(item) })
		if !errors.Is(err, memcache.ErrCASConflict) && !errors.Is(err, memcache.ErrCacheMiss) {
			return err
		}
	}
	if version <= 1 {
		// A new session's first copy: the key is almost surely free, and
		// add alone is the whole compare-and-set.
		err := m.nodes.Do(n, nodes.OpAdd, func(c *memcache.Client) error { return c.Add(item) })
		if !errors.Is(err, memcache.ErrNotStored) {
			return err
		}
	}
	for range 4 {
		var cur *memcache.Item
		err := m.nodes.Do(n, nodes.OpGets, func(c *memcache.Client) error {
			var err error
			cur, err = c.Get(key)
			return err
		})
		if errors.Is(err, memcache.ErrCacheMiss) {
			err = m.nodes.Do(n, nodes.OpAdd, func(c *memcache.Client) error { return c.Add(item) })
			if errors.Is(err, memcache.ErrNotStored) {
				continue // added by someone else meanwhile: compare with it
			}
			return err
		}
		if err != nil {
			return err
		}
		switch {
		case isTombstone(cur.Value):
			return errSessionGone
		case string(cur.Value) == string(blob):
			return nil // our own write, already there (a retry after a lost answer)
		case cur.Flags >= item.Flags:
			return errNewerStored
		}
		item.CasID = cur.CasID
		err = m.nodes.Do(n, nodes.OpCAS, func(c *memcache.Client) error { return c.CompareAndSwap(item) })
		if errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrCacheMiss) {
			continue // changed or gone meanwhile: look again
		}
		return err
	}
	return errNewerStored // others keep writing it: theirs are newer
}
