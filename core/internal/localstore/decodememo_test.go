package localstore

import (
	"bytes"
	"fmt"
	"testing"
)

func TestDecodeMemoHitsOnlyTheSameBytes(t *testing.T) {
	c := NewDecodeMemo[string](4, 1<<20)
	raw := []byte("version 1 of a")
	c.Put("a", raw, "decoded 1", 10)
	if v, ok := c.Get("a", []byte("version 1 of a")); !ok || v != "decoded 1" {
		t.Errorf("Get(a, same bytes) = %q, %v; want the decode kept", v, ok)
	}
	// One byte changed, the same length: memcached's copy changed, so it
	// must be decoded again, never served from the memo.
	if v, ok := c.Get("a", []byte("version 2 of a")); ok {
		t.Errorf("Get(a, other bytes) = %q, hit; want a miss", v)
	}
	if _, ok := c.Get("a", raw[:5]); ok {
		t.Error("Get(a, a prefix of the bytes) hit; want a miss")
	}
	if _, ok := c.Get("b", raw); ok {
		t.Error("Get(b) hit with a's bytes; the memo is per key")
	}
	c.Put("a", []byte("version 2 of a"), "decoded 2", 10)
	if v, ok := c.Get("a", []byte("version 2 of a")); !ok || v != "decoded 2" {
		t.Errorf("after a new Put: Get(a) = %q, %v; want decoded 2", v, ok)
	}
	if _, ok := c.Get("a", raw); ok {
		t.Error("the bytes of the replaced decode still hit")
	}
	c.Forget("a")
	if _, ok := c.Get("a", []byte("version 2 of a")); ok || c.Len() != 0 {
		t.Errorf("Forget(a): Get still hits or Len = %d", c.Len())
	}
}

func TestDecodeMemoKeyBound(t *testing.T) {
	c := NewDecodeMemo[int](3, 1<<20)
	for i := range 10 {
		c.Put(fmt.Sprint("k", i), []byte{byte(i)}, i, 0)
		if c.Len() > 3 {
			t.Fatalf("after %d puts Len = %d, over the bound of 3", i+1, c.Len())
		}
	}
	for i := 7; i < 10; i++ { // the newest three stay
		if v, ok := c.Get(fmt.Sprint("k", i), []byte{byte(i)}); !ok || v != i {
			t.Errorf("k%d: %d, %v; want kept", i, v, ok)
		}
	}
	// A key put again after Forget leaves a stale place in the queue; the
	// bound still holds and the memo keeps working.
	c.Forget("k8")
	c.Put("k8", []byte{8}, 8, 0)
	for i := 10; i < 20; i++ {
		c.Put(fmt.Sprint("k", i), []byte{byte(i)}, i, 0)
		if c.Len() > 3 {
			t.Fatalf("Len = %d after Forget and Put again, over the bound", c.Len())
		}
	}
	if v, ok := c.Get("k19", []byte{19}); !ok || v != 19 {
		t.Errorf("k19 = %d, %v; want the newest kept", v, ok)
	}
}

func TestDecodeMemoByteBudget(t *testing.T) {
	const budget = 1000
	c := NewDecodeMemo[int](100, budget)
	raw := bytes.Repeat([]byte{'x'}, 100)
	for i := range 20 { // 20 entries of 200 bytes: 4,000 bytes offered
		c.Put(fmt.Sprint("k", i), raw, i, 100)
		if c.used > budget {
			t.Fatalf("after %d puts %d bytes held, over the budget %d", i+1, c.used, budget)
		}
	}
	if c.Len() != 5 {
		t.Errorf("Len = %d; want 5 entries of 200 bytes in 1,000", c.Len())
	}
	if _, ok := c.Get("k19", raw); !ok {
		t.Error("the newest entry was dropped")
	}
	if _, ok := c.Get("k0", raw); ok {
		t.Error("the oldest entry outlived the budget")
	}
	// A value over a quarter of the budget is not kept, and takes the
	// key's older entry with it (it would never hit again).
	big := bytes.Repeat([]byte{'y'}, budget/4+1)
	c.Put("k19", big, 99, 0)
	if _, ok := c.Get("k19", big); ok {
		t.Error("a value over a quarter of the budget was kept")
	}
	if _, ok := c.Get("k19", raw); ok {
		t.Error("the key's older entry survived a Put of a value too large to keep")
	}
}
