package localstore

import (
	"container/list"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Store holds the sessions of this instance in memory, keyed by the id's
// base (so a session keeps its entry when it moves to another node); T is
// the session (a pointer: entries are compared by identity).
// It is sharded to keep lock contention off the request path; with a
// bound (MaxLocalSessions), each shard keeps an LRU list and, when full,
// evicts its least recently used session among those that are safe to
// drop (see evictLocked).
type Store[T comparable] struct {
	shards []shard[T]
	seed   maphash.Seed
	// perShard is the LRU bound of one shard; 0 means unbounded.
	perShard int
	// safe reports whether a session can be dropped without losing
	// anything: memcached holds its last state and no request uses it.
	// Called with the shard's lock held; it takes the session's.
	safe func(T) bool
	// evicted counts the sessions dropped by the bound.
	evicted *atomic.Uint64
	// key is a session's base.
	key func(T) string
}

// evictScan is how many of a full shard's least recently used sessions
// are looked at for one that is safe to drop, before the least recently
// used one is dropped anyway: the bound holds even when memcached is
// down and nothing is safe.
const evictScan = 32

type shard[T comparable] struct {
	mu  sync.RWMutex
	m   map[string]entry[T] // entries by value: no allocation of their own
	lru *list.List          // front = most recent; nil when unbounded
}

type entry[T comparable] struct {
	d    T
	elem *list.Element
}

// MaxShards is the number of shards of a store with a large bound (or
// none); Bound rounds up to a multiple of it.
const MaxShards = 64

// New returns a store holding at most maxSessions sessions (maxSessions
// <= 0: no bound), keyed by key. safe and evicted are as in Store; safe may
// be nil (every session is safe to drop), evicted too (not counted).
func New[T comparable](maxSessions int, key func(T) string, safe func(T) bool, evicted *atomic.Uint64) *Store[T] {
	n := MaxShards
	if maxSessions > 0 && maxSessions < MaxShards*MaxShards {
		n = 1 // few sessions: one exact LRU rather than 64 rough ones
	}
	if safe == nil {
		safe = func(T) bool { return true }
	}
	if evicted == nil {
		evicted = new(atomic.Uint64)
	}
	st := &Store[T]{shards: make([]shard[T], n), seed: maphash.MakeSeed(), safe: safe, evicted: evicted, key: key}
	if maxSessions > 0 {
		st.perShard = (maxSessions + n - 1) / n
	}
	for i := range st.shards {
		st.shards[i].m = map[string]entry[T]{}
		if st.perShard > 0 {
			st.shards[i].lru = list.New()
		}
	}
	return st
}

// Bound is how many sessions the store holds at most: maxSessions rounded
// up to a multiple of the shards; 0 for no bound.
func (st *Store[T]) Bound() int { return st.perShard * len(st.shards) }

func (st *Store[T]) shard(base string) *shard[T] {
	return &st.shards[maphash.String(st.seed, base)%uint64(len(st.shards))]
}

// Get returns the session with this base, or the zero T (nil).
func (st *Store[T]) Get(base string) (d T) {
	sh := st.shard(base)
	if sh.lru == nil {
		sh.mu.RLock()
		e := sh.m[base]
		sh.mu.RUnlock()
		return e.d
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[base]
	if !ok {
		return d
	}
	sh.lru.MoveToFront(e.elem)
	return e.d
}

// Put adds d unless a session with its base is there already, and returns
// the one that is kept. Over the LRU bound, the shard's least recently used
// session is dropped.
func (st *Store[T]) Put(d T) T {
	sh := st.shard(st.key(d))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[st.key(d)]; ok {
		return e.d
	}
	st.insertLocked(sh, d)
	return d
}

// insertLocked adds d to sh, evicting a session when the shard is over
// its bound. Called with sh.mu held.
func (st *Store[T]) insertLocked(sh *shard[T], d T) {
	if sh.lru == nil {
		sh.m[st.key(d)] = entry[T]{d: d}
		return
	}
	sh.m[st.key(d)] = entry[T]{d: d, elem: sh.lru.PushFront(d)}
	if sh.lru.Len() > st.perShard {
		st.evictLocked(sh)
	}
}

// evictLocked drops one session of a full shard: the least recently used
// of those that are safe to drop (backed up, not in use) among the
// evictScan least recently used, else the least recently used one (the
// bound wins: memory must not grow while memcached is down). The session
// just added is never the one dropped. Called with sh.mu held.
func (st *Store[T]) evictLocked(sh *shard[T]) {
	victim := sh.lru.Back()
	for el, i := sh.lru.Back(), 0; el != nil && el != sh.lru.Front() && i < evictScan; el, i = el.Prev(), i+1 {
		if st.safe(el.Value.(T)) {
			victim = el
			break
		}
	}
	if victim == sh.lru.Front() {
		return
	}
	sh.lru.Remove(victim)
	delete(sh.m, st.key(victim.Value.(T)))
	st.evicted.Add(1)
}

// Replace puts d in place of whatever session its base holds, in one step
// (a take-over or revalidation found a newer copy), and returns it.
func (st *Store[T]) Replace(d T) T {
	sh := st.shard(st.key(d))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[st.key(d)]; ok {
		e.d = d
		sh.m[st.key(d)] = e
		if sh.lru != nil {
			e.elem.Value = d
			sh.lru.MoveToFront(e.elem)
		}
		return d
	}
	st.insertLocked(sh, d)
	return d
}

// Remove deletes the entry of base if it still holds d.
func (st *Store[T]) Remove(base string, d T) {
	sh := st.shard(base)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[base]; ok && e.d == d {
		delete(sh.m, base)
		if sh.lru != nil {
			sh.lru.Remove(e.elem)
		}
	}
}

func (st *Store[T]) Len() int {
	n := 0
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Sweep removes the sessions for which expired returns true and returns them.
func (st *Store[T]) Sweep(expired func(T) bool) []T {
	var out []T
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		var dead []T
		for _, e := range sh.m {
			if expired(e.d) {
				dead = append(dead, e.d)
			}
		}
		sh.mu.RUnlock()
		for _, d := range dead {
			st.Remove(st.key(d), d)
		}
		out = append(out, dead...)
	}
	return out
}

// Each calls f for every session until f returns false.
func (st *Store[T]) Each(f func(T) bool) {
	for i := range st.shards {
		sh := &st.shards[i]
		sh.mu.RLock()
		ds := make([]T, 0, len(sh.m))
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
