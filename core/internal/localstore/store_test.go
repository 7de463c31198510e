package localstore

import (
	"strings"
	"testing"
	"time"
)

// session stands for core's session: the store needs only its base.
type session struct{ base string }

func baseOf(s *session) string { return s.base }

func TestNegativeCacheIsBoundedAndExpires(t *testing.T) {
	c := NewTTLSet(3, time.Second)
	now := time.Now()
	for _, b := range []string{"a", "b", "c", "d"} {
		c.Add(b, now)
	}
	if c.Has("a", now) {
		t.Error("oldest entry not evicted at the bound")
	}
	if !c.Has("d", now) || !c.Has("b", now) {
		t.Error("recent entries missing")
	}
	if c.Has("d", now.Add(2*time.Second)) {
		t.Error("entry outlived its TTL")
	}
	if len(c.m) > 3 {
		t.Errorf("cache holds %d entries, bound 3", len(c.m))
	}
}

func TestLocalStoreLRUBound(t *testing.T) {
	st := New(3, baseOf, nil, nil)
	var ds []*session
	for i := range 4 {
		d := &session{base: strings.Repeat(string(rune('a'+i)), 32)}
		ds = append(ds, d)
		if i == 3 {
			st.Get(ds[0].base) // a is used: b is now the least recent
		}
		st.Put(d)
	}
	if st.Len() != 3 {
		t.Errorf("store holds %d, bound 3", st.Len())
	}
	if st.Get(ds[1].base) != nil || st.Get(ds[0].base) == nil {
		t.Error("LRU evicted the wrong session")
	}
}

func TestLocalStoreEvictsSafeSessionsFirst(t *testing.T) {
	unsafe := map[*session]bool{}
	st := New(3, baseOf, func(d *session) bool { return !unsafe[d] }, nil)
	var ds []*session
	for i := range 5 {
		ds = append(ds, &session{base: strings.Repeat(string(rune('a'+i)), 32)})
	}
	unsafe[ds[0]] = true // least recently used, but its backup has not landed
	for _, d := range ds {
		st.Put(d)
	}
	if st.Len() != 3 || st.evicted.Load() != 2 {
		t.Fatalf("store holds %d after 2 evictions (counted %d), bound 3", st.Len(), st.evicted.Load())
	}
	if st.Get(ds[0].base) == nil || st.Get(ds[1].base) != nil || st.Get(ds[2].base) != nil {
		t.Error("an unsafe session was evicted while safe ones were there")
	}
	// Nothing safe among the least recently used: the bound still holds.
	// (The get above made ds[0] the most recent: ds[3] is the least.)
	for _, d := range ds[3:] {
		unsafe[d] = true
	}
	st.Put(&session{base: strings.Repeat("f", 32)})
	if st.Len() != 3 || st.Get(ds[3].base) != nil {
		t.Errorf("store holds %d with nothing safe to evict, want 3 (the least recently used dropped)", st.Len())
	}
}

func TestBoundRoundsUpToTheShards(t *testing.T) {
	for _, tc := range []struct{ max, bound int }{{0, 0}, {-1, 0}, {10, 10}, {MaxShards * MaxShards, MaxShards * MaxShards}, {MaxShards*MaxShards + 1, MaxShards * (MaxShards + 1)}} {
		if got := New(tc.max, baseOf, nil, nil).Bound(); got != tc.bound {
			t.Errorf("New(%d).Bound() = %d, want %d", tc.max, got, tc.bound)
		}
	}
}
