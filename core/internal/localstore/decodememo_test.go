package localstore

import (
	"bytes"
	"fmt"
	"testing"
)

func TestDecodeMemoHitsOnlyTheSameBytes(t *testing.T) {
	c := NewDecodeMemo[string](4, 1<<20)
	raw := []byte("version 1 of a")
	c.Put("a", raw, "decoded 1", 10, 0)
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
	c.Put("a", []byte("version 2 of a"), "decoded 2", 10, 0)
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
	if c.used != 0 {
		t.Errorf("%d bytes counted in an empty memo", c.used)
	}
}

func TestDecodeMemoKeyBound(t *testing.T) {
	c := NewDecodeMemo[int](3, 1<<20)
	for i := range 10 {
		c.Put(fmt.Sprint("k", i), []byte{byte(i)}, i, 0, 0)
		if c.Len() > 3 {
			t.Fatalf("after %d puts Len = %d, over the bound of 3", i+1, c.Len())
		}
	}
	for i := 7; i < 10; i++ { // the newest three stay
		if v, ok := c.Get(fmt.Sprint("k", i), []byte{byte(i)}); !ok || v != i {
			t.Errorf("k%d: %d, %v; want kept", i, v, ok)
		}
	}
	// A key dropped and put again leaves a stale place in the queue:
	// popping it must not take the key's new entry. The queue is [k7 k8
	// k9]; Drop(k8) and Put(k8) make it [k8(stale) k9 k8] (k7 made room),
	// and k10 makes room by popping the stale slot, which frees nothing
	// held: k9, k8 and k10 are the three kept.
	c.Drop("k8")
	c.Put("k8", []byte{8}, 8, 0, 0)
	c.Put("k10", []byte{10}, 10, 0, 0)
	for _, k := range []int{9, 8, 10} {
		if v, ok := c.Get(fmt.Sprint("k", k), []byte{byte(k)}); !ok || v != k {
			t.Errorf("k%d = %d, %v after Drop(k8) and Put again; want kept", k, v, ok)
		}
	}
	// Put again without Drop moves the key to the newest place too.
	c.Put("k8", []byte{8}, 8, 0, 0)
	c.Put("k11", []byte{11}, 11, 0, 0)
	c.Put("k12", []byte{12}, 12, 0, 0)
	if _, ok := c.Get("k8", []byte{8}); !ok {
		t.Error("k8, put again after k10, went before k10")
	}
	if _, ok := c.Get("k10", []byte{10}); ok {
		t.Error("k10 outlived the bound of 3 (k8, k11, k12 are newer)")
	}
	for i := 20; i < 40; i++ {
		c.Put(fmt.Sprint("k", i), []byte{byte(i)}, i, 0, 0)
		if c.Len() > 3 {
			t.Fatalf("Len = %d, over the bound", c.Len())
		}
	}
}

// A decode that began before its session was ended (Forget) is not put
// back when it finishes; Drop, for keys a load found empty, refuses no
// other key's Put.
func TestDecodeMemoForgetRefusesEarlierPuts(t *testing.T) {
	c := NewDecodeMemo[int](8, 1<<20)
	since := c.Since() // a load reads the bytes of session a...
	c.Forget("a")      // ...while a is invalidated...
	c.Put("a", []byte("old a"), 1, 0, since)
	if _, ok := c.Get("a", []byte("old a")); ok || c.Len() != 0 {
		t.Error("a decode begun before Forget was kept")
	}
	since = c.Since()
	c.Drop("unknown") // a flood of unknown ids
	c.Put("b", []byte("b"), 2, 0, since)
	if v, ok := c.Get("b", []byte("b")); !ok || v != 2 {
		t.Errorf("Drop of another key refused b's Put: %d, %v", v, ok)
	}
}

func TestDecodeMemoByteBudget(t *testing.T) {
	const budget = 1000
	c := NewDecodeMemo[int](100, budget)
	raw := bytes.Repeat([]byte{'x'}, 100)
	for i := range 20 { // 20 entries of 200 bytes: 4,000 bytes offered
		c.Put(fmt.Sprint("k", i), raw, i, 100, 0)
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
	c.Put("k19", big, 99, 0, 0)
	if _, ok := c.Get("k19", big); ok {
		t.Error("a value over a quarter of the budget was kept")
	}
	if _, ok := c.Get("k19", raw); ok {
		t.Error("the key's older entry survived a Put of a value too large to keep")
	}
}
