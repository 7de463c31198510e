package core

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/envelope"
	"github.com/gomsm/msm/core/internal/nodes"
)

// The principal index: for each principal, one small memcached item that
// lists the bases of its sessions (live entries) and the bases it ended
// (revoked entries), so that any instance can find a principal's sessions
// (SessionsOf), end them (InvalidatePrincipal), and tell whether a session
// it holds was ended elsewhere (checkPrincipal). The item's key is derived
// from a hash of the principal, never from the string itself, and it is
// kept on two nodes chosen by that hash (the next one in configured order
// after the first), like non-sticky copies: reads merge both copies, every
// write goes to both with gets + cas (add when absent), so neither a
// node's death nor two instances writing at once loses an entry.

const (
	indexPrefix = "pidx:"
	// maxIndexEntries bounds the live and the revoked entries of one
	// principal: beyond it the oldest live session is ended, the oldest
	// revoked entry forgotten.
	maxIndexEntries = 1000
	// indexGrace is how long a new entry is kept although its session is
	// not in memcached yet (an asynchronous backup still queued).
	indexGrace = time.Minute
	// indexWriteTries bounds the cas rounds of one write to one node: each
	// round that loses, loses to a writer that won, so this many writers
	// of one principal at the same moment all get through.
	indexWriteTries = 32
)

// indexEntry is a live session of a principal: its base, the node its id
// named when it was added (a hint: a session may move), and when it was
// added (unix nanoseconds).
type indexEntry struct {
	base, node string
	added      int64
}

// principalIndex is the decoded index item.
type principalIndex struct {
	live    map[string]indexEntry
	revoked map[string]int64 // base -> when it was ended (unix nanoseconds)
}

func newPrincipalIndex() *principalIndex {
	return &principalIndex{live: map[string]indexEntry{}, revoked: map[string]int64{}}
}

// merge adds what x knows: entries live in either copy stay live unless
// either copy revoked them.
func (ix *principalIndex) merge(x *principalIndex) {
	if x == nil {
		return
	}
	for b, e := range x.live {
		if old, ok := ix.live[b]; !ok || e.added < old.added {
			ix.live[b] = e
		}
	}
	for b, at := range x.revoked {
		ix.revoked[b] = max(ix.revoked[b], at)
	}
	for b := range ix.revoked {
		delete(ix.live, b)
	}
}

// revoke moves base from live to revoked.
func (ix *principalIndex) revoke(base string, now time.Time) {
	delete(ix.live, base)
	ix.revoked[base] = now.UnixNano()
}

// byAge returns the live entries, oldest first.
func (ix *principalIndex) byAge() []indexEntry {
	out := make([]indexEntry, 0, len(ix.live))
	for _, e := range ix.live {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b indexEntry) int {
		return cmp.Or(cmp.Compare(a.added, b.added), strings.Compare(a.base, b.base))
	})
	return out
}

// trim drops revoked entries older than keep and bounds both lists.
func (ix *principalIndex) trim(now time.Time, keep time.Duration) {
	type rev struct {
		base string
		at   int64
	}
	var revs []rev
	for b, at := range ix.revoked {
		if keep > 0 && now.Sub(time.Unix(0, at)) > keep {
			delete(ix.revoked, b)
			continue
		}
		revs = append(revs, rev{b, at})
	}
	if len(revs) > maxIndexEntries {
		slices.SortFunc(revs, func(a, b rev) int { return cmp.Compare(a.at, b.at) })
		for _, r := range revs[:len(revs)-maxIndexEntries] {
			delete(ix.revoked, r.base)
		}
	}
	if live := ix.byAge(); len(live) > maxIndexEntries {
		for _, e := range live[:len(live)-maxIndexEntries] {
			ix.revoke(e.base, now)
		}
	}
}

// encode is the item's value: one line per entry, "+ base node added" or
// "- base revoked", in a stable order.
func (ix *principalIndex) encode() []byte {
	var b strings.Builder
	for _, e := range ix.byAge() {
		fmt.Fprintf(&b, "+ %s %s %d\n", e.base, e.node, e.added)
	}
	revoked := make([]string, 0, len(ix.revoked))
	for base := range ix.revoked {
		revoked = append(revoked, base)
	}
	slices.Sort(revoked)
	for _, base := range revoked {
		fmt.Fprintf(&b, "- %s %d\n", base, ix.revoked[base])
	}
	return []byte(b.String())
}

// decodeIndex parses an item's value; lines that are not well-formed (an
// id that parseID would refuse, a bad number) are skipped, so nothing
// from memcached reaches a key unchecked.
func decodeIndex(v []byte) *principalIndex {
	ix := newPrincipalIndex()
	for line := range strings.SplitSeq(string(v), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "+":
			id, ok := parseID(f[1] + "-" + f[2])
			at, err := strconv.ParseInt(f[3], 10, 64)
			if ok && err == nil && id.route == "" {
				ix.live[id.base] = indexEntry{base: id.base, node: id.node, added: at}
			}
		case len(f) == 3 && f[0] == "-":
			id, ok := parseID(f[1])
			at, err := strconv.ParseInt(f[2], 10, 64)
			if ok && err == nil && id.node == "" && id.route == "" {
				ix.revoked[id.base] = at
			}
		}
	}
	for b := range ix.revoked {
		delete(ix.live, b)
	}
	return ix
}

// indexKey is the memcached key of principal's index, and the hash it is
// made of.
func (m *Manager) indexKey(principal string) (key string, sum [32]byte) {
	sum = sha256.Sum256([]byte(principal))
	return m.cfg.KeyPrefix + indexPrefix + hex.EncodeToString(sum[:20]), sum
}

// indexNodes are the nodes that keep principal's index: one chosen by the
// hash, and the next in configured order. The choice ignores node health,
// so every instance picks the same two.
func (m *Manager) indexNodes(sum [32]byte) []*nodes.Node {
	list := m.nodes.Load().List
	if len(list) == 0 {
		return nil
	}
	i := int(uint32(sum[0])<<24|uint32(sum[1])<<16|uint32(sum[2])<<8|uint32(sum[3])) % len(list)
	if len(list) == 1 {
		return list[:1]
	}
	return []*nodes.Node{list[i], list[(i+1)%len(list)]}
}

// indexTTL is the expiration of an index item: twice the idle timeout,
// refreshed by every check and write, so it outlives its sessions.
func (m *Manager) indexTTL(now time.Time) int32 {
	if m.cfg.MaxInactive <= 0 {
		return 0
	}
	return expiration(2*m.cfg.MaxInactive, now)
}

// sealIndex and openIndex seal the item with Config.Sealer (bound to its
// key), so that with a Sealer nobody who can write to memcached can forge
// entries.
func (m *Manager) sealIndex(key string, v []byte) ([]byte, error) {
	if m.cfg.Sealer == nil {
		return v, nil
	}
	return envelope.Seal(m.cfg.Sealer, v, []byte(key))
}

func (m *Manager) openIndex(key string, v []byte) (*principalIndex, error) {
	if m.cfg.Sealer != nil {
		var err error
		if v, err = m.cfg.Sealer.Open(v, []byte(key)); err != nil {
			m.stats.corrupt.Add(1)
			m.logOnce("undecodable principal index in memcached", "err", err)
			return nil, err
		}
	}
	return decodeIndex(v), nil
}

// indexCopy is one node's copy of an index as read.
type indexCopy struct {
	n     *nodes.Node
	item  *memcache.Item // nil: the node does not have it
	ix    *principalIndex
	err   error // the node could not answer
	found bool  // item holds an index (one that opens)
}

// readIndex reads principal's index from its nodes in parallel: with touch
// by gat (refreshing the TTL, for checks), else by gets (for a write's cas).
// The merge is nil when no node had the item; err is set when no node
// answered.
func (m *Manager) readIndex(principal string, touch bool) (key string, copies []*indexCopy, merged *principalIndex, err error) {
	key, sum := m.indexKey(principal)
	targets := m.indexNodes(sum)
	if len(targets) == 0 {
		return key, nil, nil, nodes.ErrDown
	}
	copies = make([]*indexCopy, len(targets))
	var wg sync.WaitGroup
	for i, n := range targets {
		copies[i] = &indexCopy{n: n}
		wg.Go(func() { m.readIndexCopy(key, copies[i], touch) })
	}
	wg.Wait()
	var errs []error
	for _, c := range copies {
		if c.err != nil {
			errs = append(errs, c.err)
			continue
		}
		if c.found {
			if merged == nil {
				merged = newPrincipalIndex()
			}
			merged.merge(c.ix)
		}
	}
	if len(errs) == len(copies) {
		return key, copies, nil, errors.Join(errs...)
	}
	return key, copies, merged, nil
}

// readIndexCopy reads one node's copy into c.
func (m *Manager) readIndexCopy(key string, c *indexCopy, touch bool) {
	op, read := nodes.OpGets, func(cl *memcache.Client) (*memcache.Item, error) { return cl.Get(key) }
	if touch {
		ttl := m.indexTTL(time.Now())
		op, read = nodes.OpGet, func(cl *memcache.Client) (*memcache.Item, error) { return nodes.GetAndTouch(c.n, cl, key, ttl) }
	}
	err := m.nodes.Do(c.n, op, func(cl *memcache.Client) error {
		var err error
		c.item, err = read(cl)
		return err
	})
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		c.item = nil
	case err != nil:
		c.err = err
	default:
		// An item that does not open (sealed with a key no longer
		// configured, or not written by gomsm) counts as absent: the next
		// write replaces it (cas on it) rather than fail for good.
		var err error
		c.ix, err = m.openIndex(key, c.item.Value)
		c.found = err == nil
	}
}

// updateIndex applies change to principal's index on each of its nodes:
// the copy each node has, merged with what the other had, changed, then
// written back with cas (add when the node has none), again on conflict.
// change must be idempotent: it may run several times. It returns the
// merged index as last written (for the caller's decisions), and an error
// when no node took the write.
func (m *Manager) updateIndex(principal string, change func(ix *principalIndex, now time.Time)) (*principalIndex, error) {
	key, copies, merged, err := m.readIndex(principal, false)
	if err != nil {
		return nil, err
	}
	var last *principalIndex
	var errs []error
	wrote := 0
	for _, c := range copies {
		if c.err != nil {
			errs = append(errs, c.err)
			continue
		}
		ix, err := m.writeIndexCopy(key, c, merged, change)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		wrote++
		if last == nil {
			last = ix
		} else {
			last.merge(ix)
		}
	}
	if wrote == 0 {
		return nil, fmt.Errorf("core: principal index not written: %w", errors.Join(errs...))
	}
	return last, nil
}

// writeIndexCopy writes one node's copy (see updateIndex).
func (m *Manager) writeIndexCopy(key string, c *indexCopy, other *principalIndex, change func(*principalIndex, time.Time)) (*principalIndex, error) {
	for try := range indexWriteTries {
		if try > 1 {
			// Several writers at once: a random pause spreads them out.
			time.Sleep(time.Duration(rand.Int64N(int64(try) * int64(time.Millisecond))))
		}
		now := time.Now()
		ix := newPrincipalIndex()
		if c.found {
			ix.merge(c.ix)
		}
		ix.merge(other)
		change(ix, now)
		ix.trim(now, m.revokedKeep())
		v, err := m.sealIndex(key, ix.encode())
		if err != nil {
			return nil, err
		}
		item := &memcache.Item{Key: key, Value: v, Expiration: m.indexTTL(now)}
		if c.item == nil {
			err = m.nodes.Do(c.n, nodes.OpAdd, func(cl *memcache.Client) error { return cl.Add(item) })
		} else {
			item.CasID = c.item.CasID
			err = m.nodes.Do(c.n, nodes.OpCAS, func(cl *memcache.Client) error { return cl.CompareAndSwap(item) })
		}
		if err == nil {
			return ix, nil
		}
		if !errors.Is(err, memcache.ErrNotStored) && !errors.Is(err, memcache.ErrCASConflict) && !errors.Is(err, memcache.ErrCacheMiss) {
			return nil, err
		}
		// Written by another instance meanwhile: merge its copy, again.
		*c = indexCopy{n: c.n}
		m.readIndexCopy(key, c, false)
		if c.err != nil {
			return nil, c.err
		}
	}
	return nil, errors.New("core: principal index: too many concurrent writers")
}

// revokedKeep is how long a revoked entry is kept: as long as an instance
// that did not see a request of the session since could still hold it
// (its idle timeout); 0, bounded by count only, when sessions never idle
// out.
func (m *Manager) revokedKeep() time.Duration {
	if m.cfg.MaxInactive <= 0 {
		return 0
	}
	return m.cfg.MaxInactive + time.Minute
}
