package localstore

import (
	"sync"
	"time"
)

// TTLSet remembers strings for a while, in a bounded ring: the oldest entry
// makes room for the newest. As the negative cache it holds, for about a
// second, ids that memcached did not have, so a flood of well-formed but
// unknown ids costs one GET each per second rather than one per request;
// in non-sticky mode it rate-limits the TTL refresh of backup copies.
type TTLSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	m    map[string]time.Time
	ring []string
	next int
}

// NewTTLSet returns a set of at most size strings, each remembered for ttl.
func NewTTLSet(size int, ttl time.Duration) *TTLSet {
	return &TTLSet{ttl: ttl, m: make(map[string]time.Time, size), ring: make([]string, size)}
}

// Has reports whether base was added less than the ttl before now.
func (c *TTLSet) Has(base string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[base]
	return ok && now.Before(exp)
}

// Add remembers base from now on, for the ttl.
func (c *TTLSet) Add(base string, now time.Time) {
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

// Remove forgets base.
func (c *TTLSet) Remove(base string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, base)
}
