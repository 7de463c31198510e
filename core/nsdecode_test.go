package core_test

import (
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// A non-sticky load of bytes it decoded before shares that decode
// (nsDecode), and nothing else: whatever another instance changed in
// memcached, by a byte and at the same length, is what the next request
// sees, and an ended session stays ended.
func TestNonStickyDecodeMemoServesOnlyUnchangedBytes(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := nsConfig(mcs, core.LockNone)
	a := start(t, cfg, nsRoutes())
	b := start(t, cfg, nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann&city=oslo")

	// With two nodes a load reads both copies, which hold the same bytes:
	// the first read decodes one and finds the other in the memo, each
	// later one finds both there, from the read before it. A memo that
	// lived for one load only would save 3.
	before := a.m.Stats().DecodesSaved
	for range 3 {
		if got, _ := br.get(a, "/get?k=name"); got != "ann" {
			t.Fatalf("unchanged session on A: name %q, want ann", got)
		}
	}
	if saved := a.m.Stats().DecodesSaved - before; saved < 5 {
		t.Errorf("three reads of unchanged bytes saved %d decodes; want 5 (1 + 2 + 2)", saved)
	}

	// B changes one letter of one value (the memo compares bytes, not
	// lengths; the unit tests pin that down alone).
	if got, _ := br.get(b, "/set?name=amn"); got != "ok" {
		t.Fatalf("write on B: %q", got)
	}
	if got, _ := br.get(a, "/get?k=name"); got != "amn" {
		t.Fatalf("A after B's write: name %q, want amn (B's acknowledged write)", got)
	}
	// A writes on top of what it read: B must see it, and A too.
	br.get(a, "/set?city=rome")
	for _, inst := range []*instance{a, b, a} {
		if got, _ := br.get(inst, "/get?k=city"); got != "rome" {
			t.Fatalf("city %q, want rome", got)
		}
		if got, _ := br.get(inst, "/get?k=name"); got != "amn" {
			t.Fatalf("name %q, want amn", got)
		}
	}

	// Ended on B: A must not serve it from what it decoded before.
	id := br.sid()
	if !b.m.Invalidate(id) {
		t.Fatal("Invalidate on B found no session")
	}
	if got, _ := br.get(a, "/get?k=name"); got != "<none>" {
		t.Errorf("A after the session was invalidated on B: name %q, want <none>", got)
	}

	// A found it gone, and A ended the other one itself: neither decode
	// is kept (an ended session's attributes are not kept in memory until
	// the memo wraps).
	if n := core.DecodeMemoLen(a.m); n != 0 {
		t.Errorf("memo of A holds %d sessions after A found its only one gone; want 0", n)
	}
	other := newBrowser(t)
	other.get(a, "/set?name=bob")
	other.get(a, "/get?k=name")
	if core.DecodeMemoLen(a.m) != 1 {
		t.Fatalf("memo of A holds %d sessions after one session's load; want 1", core.DecodeMemoLen(a.m))
	}
	a.m.Invalidate(other.sid())
	if n := core.DecodeMemoLen(a.m); n != 0 {
		t.Errorf("memo of A holds %d sessions after its only one was invalidated on A; want 0", n)
	}
}
