package core_test

import (
	"time"

	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// TestMissOnAnotherNodeDoesNotHideTheSession: the negative cache and the
// shared load key on the whole id (base and node), not on the base alone.
// A request naming the session's base on the wrong node is a miss; the
// right id, sent right after, still finds the session. Keyed on the base,
// the first miss made the right id "no session" for a second.
func TestMissOnAnotherNodeDoesNotHideTheSession(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true}
	a := start(t, cfg, shop())
	br := browserOnNode(t, a, "n1", "/set?name=ann")
	id := br.sid()
	waitFor(t, 10*time.Second, "the backup on n1", hasKey(mcs[0], keyOf(id)))

	// b has no local copy: both requests go to memcached.
	b := start(t, cfg, shop())
	wrong := newBrowser(t)
	wrong.setSID(id[:32] + "-n2")
	if got, _ := wrong.get(b, "/get?k=name"); got != "<none>" {
		t.Fatalf("base on the wrong node reads name = %q, want <none>", got)
	}
	right := newBrowser(t)
	right.setSID(id)
	if got, _ := right.get(b, "/get?k=name"); got != "ann" {
		t.Errorf("right after a miss on n2, the id on n1 reads name = %q, want ann", got)
	}
	if st := b.m.Stats(); st.SessionsNotFound != 1 {
		t.Errorf("SessionsNotFound = %d, want 1 (the wrong node only)", st.SessionsNotFound)
	}
}
