package localstore

import "testing"

func TestCASMemoIsGoodForOneWrite(t *testing.T) {
	c := NewCASMemo(2)
	c.Note("a", Seen{CAS: 7, Flags: 3})
	if s, ok := c.Take("a"); !ok || s != (Seen{CAS: 7, Flags: 3}) {
		t.Fatalf("Take(a) = %v, %v; want {7 3}, true", s, ok)
	}
	if _, ok := c.Take("a"); ok {
		t.Error("a CAS id was handed out twice")
	}
	c.Note("b", Seen{CAS: 1})
	c.Forget("b")
	if _, ok := c.Take("b"); ok {
		t.Error("Forget kept b")
	}
}

func TestCASMemoIsBounded(t *testing.T) {
	c := NewCASMemo(2)
	c.Note("a", Seen{CAS: 1})
	c.Note("b", Seen{CAS: 2})
	c.Note("a", Seen{CAS: 3}) // an update never forgets
	if len(c.m) != 2 {
		t.Fatalf("%d entries after an update, want 2", len(c.m))
	}
	c.Note("c", Seen{CAS: 4}) // full: forget, then remember c
	if len(c.m) != 1 {
		t.Errorf("%d entries, want 1 (bound 2)", len(c.m))
	}
	if s, ok := c.Take("c"); !ok || s.CAS != 4 {
		t.Errorf("Take(c) = %v, %v", s, ok)
	}
}
