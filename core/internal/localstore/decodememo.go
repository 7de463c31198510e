package localstore

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
)

// DecodeMemo remembers, for a bounded number of keys, the stored bytes
// last decoded under each key and what the decode gave (V), so that
// reading the very same bytes again costs a comparison instead of a
// decode. It is exact: a hit needs the bytes to be equal, byte for byte,
// so a changed copy is always decoded again, whatever memcached's CAS ids
// did meanwhile (they start again after a restart). V must not be changed
// once it is in the memo: every hit shares it.
//
// The bound is both a number of keys and a number of bytes (the stored
// bytes plus the caller's estimate of V's size); the entry put longest ago
// makes room for the newest. A value larger than a quarter of the byte
// budget is never kept: it would push out many sessions for one.
type DecodeMemo[V any] struct {
	mu sync.Mutex
	m  map[string]decoded[V]
	// queue holds the keys in the order they were put, a ring whose head
	// is the oldest. A slot whose seq is not its key's entry's any more
	// (the key was put again, or forgotten) is stale: popping it frees
	// nothing.
	queue  []slot
	head   int
	count  int
	seq    uint64 // of the last put
	used   int    // bytes held (raw plus the callers' sizes)
	budget int
	// forgets counts Forget calls; a Put that began before one (Since)
	// is not kept, so a decode finished after its session ended does not
	// bring the entry back.
	forgets atomic.Uint64
}

type decoded[V any] struct {
	raw  []byte
	v    V
	size int
	seq  uint64
}

type slot struct {
	key string
	seq uint64
}

// NewDecodeMemo returns a memo of at most keys entries (at least one) and
// about budget bytes.
func NewDecodeMemo[V any](keys, budget int) *DecodeMemo[V] {
	return &DecodeMemo[V]{m: make(map[string]decoded[V]), queue: make([]slot, max(1, keys)), budget: budget}
}

// Get returns what raw decoded to under key, if these bytes are the ones
// remembered for it.
func (c *DecodeMemo[V]) Get(key string, raw []byte) (v V, ok bool) {
	c.mu.Lock()
	e, found := c.m[key]
	c.mu.Unlock()
	if !found || !bytes.Equal(e.raw, raw) {
		return v, false
	}
	return e.v, true
}

// Since returns a mark to give Put: a Put with a mark taken before a
// Forget of any key is not kept. Take it before reading the bytes.
func (c *DecodeMemo[V]) Since() uint64 { return c.forgets.Load() }

// Put remembers that raw decoded to v under key; size is what v holds
// beyond raw, in bytes; since is what Since returned before the bytes
// were read. raw is kept, not copied: the caller must not change it
// afterwards.
func (c *DecodeMemo[V]) Put(key string, raw []byte, v V, size int, since uint64) {
	size += len(raw)
	if size > c.budget/4 {
		c.Drop(key) // an older, smaller copy would never hit again
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets.Load() != since {
		return // the key may have been forgotten while v was decoded
	}
	if old, ok := c.m[key]; ok {
		c.used -= old.size // its slot goes stale: the entry moves to the tail
	} else {
		key = strings.Clone(key) // not a view pinning a request's header
	}
	for c.count == len(c.queue) {
		c.dropOldestLocked()
	}
	c.seq++
	c.queue[(c.head+c.count)%len(c.queue)] = slot{key: key, seq: c.seq}
	c.count++
	c.m[key] = decoded[V]{raw: raw, v: v, size: size, seq: c.seq}
	c.used += size
	for c.used > c.budget && c.count > 1 {
		c.dropOldestLocked() // never the tail: the entry just put
	}
}

// Forget drops what is remembered for key, and makes every Put begun
// before it a no-op: for a key whose value must not come back (an ended
// session), where a decode may be under way.
func (c *DecodeMemo[V]) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets.Add(1) // under mu: a Put holding mu sees it or ran before it
	c.dropLocked(key)
}

// Drop drops what is remembered for key, and nothing else: for a key
// that is of no more use (a load found nothing under it), which a flood
// of unknown keys must not turn into refused Puts of others.
func (c *DecodeMemo[V]) Drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(key)
}

func (c *DecodeMemo[V]) dropLocked(key string) {
	if old, ok := c.m[key]; ok {
		c.used -= old.size
		delete(c.m, key) // its slot goes stale
	}
}

// Len is the number of keys remembered.
func (c *DecodeMemo[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// dropOldestLocked pops the oldest slot of the queue and, if it is not
// stale, its entry.
func (c *DecodeMemo[V]) dropOldestLocked() {
	s := c.queue[c.head]
	c.queue[c.head] = slot{}
	c.head = (c.head + 1) % len(c.queue)
	c.count--
	if e, ok := c.m[s.key]; ok && e.seq == s.seq {
		c.used -= e.size
		delete(c.m, s.key)
	}
}
