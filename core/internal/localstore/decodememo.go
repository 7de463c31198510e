package localstore

import (
	"bytes"
	"sync"
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
// bytes plus the caller's estimate of V's size); the oldest entry makes
// room for the newest. A value larger than a quarter of the byte budget
// is never kept: it would push out many sessions for one.
type DecodeMemo[V any] struct {
	mu     sync.Mutex
	m      map[string]decoded[V]
	queue  []string // keys in insertion order, a ring: head is the oldest
	head   int
	count  int
	used   int // bytes held (raw plus the callers' sizes)
	budget int
}

type decoded[V any] struct {
	raw  []byte
	v    V
	size int
}

// NewDecodeMemo returns a memo of at most keys entries and about budget
// bytes.
func NewDecodeMemo[V any](keys, budget int) *DecodeMemo[V] {
	return &DecodeMemo[V]{m: make(map[string]decoded[V]), queue: make([]string, keys), budget: budget}
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

// Put remembers that raw decoded to v under key; size is what v holds
// beyond raw, in bytes. raw is kept, not copied: the caller must not
// change it afterwards.
func (c *DecodeMemo[V]) Put(key string, raw []byte, v V, size int) {
	size += len(raw)
	if size > c.budget/4 {
		c.Forget(key) // an older, smaller copy would never hit again
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		c.used -= old.size // keeps its place in the queue
	} else {
		for c.count == len(c.queue) {
			c.dropOldestLocked()
		}
		c.queue[(c.head+c.count)%len(c.queue)] = key
		c.count++
	}
	c.m[key] = decoded[V]{raw: raw, v: v, size: size}
	c.used += size
	for c.used > c.budget && c.count > 1 {
		c.dropOldestLocked()
	}
}

// Forget drops what is remembered for key (its place in the queue is
// freed when it comes round).
func (c *DecodeMemo[V]) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		c.used -= old.size
		delete(c.m, key)
	}
}

// Len is the number of keys remembered.
func (c *DecodeMemo[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// dropOldestLocked pops the oldest key of the queue and its entry, if the
// key is still remembered (Forget leaves its key in the queue).
func (c *DecodeMemo[V]) dropOldestLocked() {
	key := c.queue[c.head]
	c.queue[c.head] = ""
	c.head = (c.head + 1) % len(c.queue)
	c.count--
	if old, ok := c.m[key]; ok {
		c.used -= old.size
		delete(c.m, key)
	}
}
