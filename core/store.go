package core

import (
	"container/list"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// localStore holds the sessions of this instance in memory, keyed by the
// id's base (so a session keeps its entry when it moves to another node).
// It is sharded to keep lock contention off the request path; with a
// bound (MaxLocalSessions), each shard keeps an LRU list and, when full,
// evicts its least recently used session among those that are safe to
// drop (see evictLocked).
type localStore struct {
	shards []storeShard
	seed   maphash.Seed
	// perShard is the LRU bound of one shard; 0 means unbounded.
	perShard int
	// safe reports whether a session can be dropped without losing
	// anything: memcached holds its last state and no request uses it.
	// Called with the shard's lock held; it takes the session's.
	safe func(*sessionData) bool
	// evicted counts the sessions dropped by the bound.
	evicted *atomic.Uint64
}

// evictScan is how many of a full shard's least recently used sessions
// are looked at for one that is safe to drop, before the least recently
// used one is dropped anyway: the bound holds even when memcached is
// down and nothing is safe.
const evictScan = 32

type storeShard struct {
	mu  sync.RWMutex
	m   map[string]*storeEntry
	lru *list.List // front = most recent; nil when unbounded
}

type storeEntry struct {
	d    *sessionData
	elem *list.Element
}

// newLocalStore returns a store holding at most maxSessions sessions
// (maxSessions <= 0: no bound). safe and evicted are as in localStore; safe
// may be nil (every session is safe to drop).
func newLocalStore(maxSessions int, safe func(*sessionData) bool, evicted *atomic.Uint64) *localStore {
	n := 64
	if maxSessions > 0 && maxSessions < 64*64 {
		n = 1 // few sessions: one exact LRU rather than 64 rough ones
	}
	if safe == nil {
		safe = func(*sessionData) bool { return true }
	}
	if evicted == nil {
		evicted = new(atomic.Uint64)
	}
	st := &localStore{shards: make([]storeShard, n), seed: maphash.MakeSeed(), safe: safe, evicted: evicted}
	if maxSessions > 0 {
		st.perShard = (maxSessions + n - 1) / n
	}
	for i := range st.shards {
		st.shards[i].m = map[string]*storeEntry{}
		if st.perShard > 0 {
			st.shards[i].lru = list.New()
		}
	}
	return st
}

func (st *localStore) shard(base string) *storeShard {
	return &st.shards[maphash.String(st.seed, base)%uint64(len(st.shards))]
}

// get returns the session with this base, or nil.
func (st *localStore) get(base string) *sessionData {
	sh := st.shard(base)
	if sh.lru == nil {
		sh.mu.RLock()
		e := sh.m[base]
		sh.mu.RUnlock()
		if e == nil {
			return nil
		}
		return e.d
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[base]
	if e == nil {
		return nil
	}
	sh.lru.MoveToFront(e.elem)
	return e.d
}

// put adds d unless a session with its base is there already, and returns
// the one that is kept. Over the LRU bound, the shard's least recently used
// session is dropped.
func (st *localStore) put(d *sessionData) *sessionData {
	sh := st.shard(d.base)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[d.base]; e != nil {
		return e.d
	}
	st.insertLocked(sh, d)
	return d
}

// insertLocked adds d to sh, evicting a session when the shard is over
// its bound. Called with sh.mu held.
func (st *localStore) insertLocked(sh *storeShard, d *sessionData) {
	e := &storeEntry{d: d}
	sh.m[d.base] = e
	if sh.lru == nil {
		return
	}
	e.elem = sh.lru.PushFront(e)
	if sh.lru.Len() > st.perShard {
		st.evictLocked(sh)
	}
}

// evictLocked drops one session of a full shard: the least recently used
// of those that are safe to drop (backed up, not in use) among the
// evictScan least recently used, else the least recently used one (the
// bound wins: memory must not grow while memcached is down). The session
// just added is never the one dropped. Called with sh.mu held.
func (st *localStore) evictLocked(sh *storeShard) {
	victim := sh.lru.Back()
	for el, i := sh.lru.Back(), 0; el != nil && el != sh.lru.Front() && i < evictScan; el, i = el.Prev(), i+1 {
		if st.safe(el.Value.(*storeEntry).d) {
			victim = el
			break
		}
	}
	if victim == sh.lru.Front() {
		return
	}
	sh.lru.Remove(victim)
	delete(sh.m, victim.Value.(*storeEntry).d.base)
	st.evicted.Add(1)
}

// replace puts d in place of whatever session its base holds, in one step
// (a take-over or revalidation found a newer copy), and returns it.
func (st *localStore) replace(d *sessionData) *sessionData {
	sh := st.shard(d.base)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[d.base]; e != nil {
		e.d = d
		if sh.lru != nil {
			sh.lru.MoveToFront(e.elem)
		}
		return d
	}
	st.insertLocked(sh, d)
	return d
}

// remove deletes the entry of base if it still holds d.
func (st *localStore) remove(base string, d *sessionData) {
	sh := st.shard(base)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.m[base]; e != nil && e.d == d {
		delete(sh.m, base)
		if sh.lru != nil {
			sh.lru.Remove(e.elem)
		}
	}
}

func (st *localStore) len() int {
	n := 0
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// sweep removes the sessions for which expired returns true and returns them.
func (st *localStore) sweep(expired func(*sessionData) bool) []*sessionData {
	var out []*sessionData
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		var dead []*sessionData
		for _, e := range sh.m {
			if expired(e.d) {
				dead = append(dead, e.d)
			}
		}
		sh.mu.RUnlock()
		for _, d := range dead {
			st.remove(d.base, d)
		}
		out = append(out, dead...)
	}
	return out
}

// each calls f for every session until f returns false.
func (st *localStore) each(f func(*sessionData) bool) {
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		ds := make([]*sessionData, 0, len(sh.m))
		for _, e := range sh.m {
			ds = append(ds, e.d)
		}
		sh.mu.RUnlock()
		for _, d := range ds {
			if !f(d) {
				return
			}
		}
	}
}

// ttlSet remembers strings for a while, in a bounded ring: the oldest entry
// makes room for the newest. As the negative cache it holds, for about a
// second, ids that memcached did not have, so a flood of well-formed but
// unknown ids costs one GET each per second rather than one per request;
// in non-sticky mode it rate-limits the TTL refresh of backup copies.
type ttlSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	m    map[string]time.Time
	ring []string
	next int
}

func newTTLSet(size int, ttl time.Duration) *ttlSet {
	return &ttlSet{ttl: ttl, m: make(map[string]time.Time, size), ring: make([]string, size)}
}

func (c *ttlSet) has(base string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[base]
	return ok && now.Before(exp)
}

func (c *ttlSet) add(base string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[base]; !ok {
		if old := c.ring[c.next]; old != "" {
			delete(c.m, old)
		}
		c.ring[c.next] = base
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[base] = now.Add(c.ttl)
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
