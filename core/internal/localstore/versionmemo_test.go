package localstore

import "testing"

func TestVersionMemoKeepsTheHighestAndIsBounded(t *testing.T) {
	v := NewVersionMemo(2)
	v.Note("a", 5)
	v.Note("a", 3) // an older version seen later does not lower it
	if got, ok := v.Get("a"); !ok || got != 5 {
		t.Errorf("Get(a) = %d, %v; want 5", got, ok)
	}
	v.Note("b", 1)
	v.Note("c", 1) // the oldest entry, a, makes room
	if _, ok := v.Get("a"); ok {
		t.Error("a outlived the bound of 2")
	}
	if got, ok := v.Get("c"); !ok || got != 1 {
		t.Errorf("Get(c) = %d, %v; want 1", got, ok)
	}
}
