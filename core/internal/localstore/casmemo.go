package localstore

import "sync"

// CASMemo remembers, for a bounded number of memcached items, the CAS id
// and flags an item had when it was last read, until a write takes them
// (Take). A write that finds its item's CAS id here can send its
// compare-and-set at once instead of reading the item again first.
type CASMemo struct {
	mu   sync.Mutex
	size int
	m    map[string]Seen
}

// Seen is what a read returned of an item: its CAS id and its flags.
type Seen struct {
	CAS   uint64
	Flags uint32
}

// NewCASMemo returns a memo of at most size items.
func NewCASMemo(size int) *CASMemo {
	return &CASMemo{size: size, m: make(map[string]Seen)}
}

// Note remembers what a read of key returned. When the memo is full it
// forgets everything first: an entry it lacks only costs its write the
// read it would have made anyway.
func (c *CASMemo) Note(key string, s Seen) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.size {
		clear(c.m)
	}
	c.m[key] = s
}

// Take returns and forgets what was seen of key: a CAS id is good for one
// write at most (the write changes it).
func (c *CASMemo) Take(key string) (Seen, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[key]
	if ok {
		delete(c.m, key)
	}
	return s, ok
}

// Forget drops what was seen of key.
func (c *CASMemo) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
