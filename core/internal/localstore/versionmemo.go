package localstore

import "sync"

// VersionMemo remembers, for a bounded number of sessions (the oldest
// entry makes room for the newest), the highest version seen of each.
type VersionMemo struct {
	mu   sync.Mutex
	m    map[string]uint64
	ring []string
	next int
}

// NewVersionMemo returns a memo of at most size sessions.
func NewVersionMemo(size int) *VersionMemo {
	return &VersionMemo{m: make(map[string]uint64), ring: make([]string, size)}
}

// Get returns the highest version seen of base, if it is remembered.
func (v *VersionMemo) Get(base string) (uint64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ver, ok := v.m[base]
	return ver, ok
}

// Note records version for base unless a higher one is known.
func (v *VersionMemo) Note(base string, version uint64) {
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
