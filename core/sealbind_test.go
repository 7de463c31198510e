package core_test

import (
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// copyItem writes the item at from under the key to, as whoever can write
// to memcached would, and fails t if from is missing.
func copyItem(t *testing.T, c *memcache.Client, from, to string) {
	t.Helper()
	it, err := c.Get(from)
	if err != nil {
		t.Fatalf("get %s: %v", from, err)
	}
	if err := c.Set(&memcache.Item{Key: to, Value: it.Value}); err != nil {
		t.Fatalf("set %s: %v", to, err)
	}
}

// TestSealedBlobIsBoundToItsKey: a sealed blob opens only under the key it
// was written for. An admin's blob copied over a user's session (swap), or
// into another app that shares the sealing key under the same id
// (cross-app), is no session and counts as corrupt; the user's own blob
// still reads. Without the binding, both copies were accepted.
func TestSealedBlobIsBoundToItsKey(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	direct := memcache.New(mc.Addr())
	sl := sealer(t, sealKey(t))
	app1 := core.Config{Nodes: nodesOf(mc), SyncBackup: true, Sealer: sl, KeyPrefix: "app1:"}
	app2 := app1
	app2.KeyPrefix = "app2:"
	a := start(t, app1, shop())
	admin, user := newBrowser(t), newBrowser(t)
	admin.get(a, "/set?role=admin")
	user.get(a, "/set?role=user")
	adminKey, userKey := "app1:"+keyOf(admin.sid()), "app1:"+keyOf(user.sid())
	waitFor(t, 10*time.Second, "both backups", func() bool { return hasKey(mc, adminKey)() && hasKey(mc, userKey)() })

	// Swap: the admin's blob under the user's key. A fresh instance (no
	// local copy) loads it.
	copyItem(t, direct, adminKey, userKey)
	b := start(t, app1, shop())
	if got, _ := user.get(b, "/get?k=role"); got != "<none>" {
		t.Errorf("swapped blob accepted: the user's id reads role = %q", got)
	}
	if st := b.m.Stats(); st.SessionsCorrupt != 1 {
		t.Errorf("swap: SessionsCorrupt = %d, want 1", st.SessionsCorrupt)
	}
	if got, _ := admin.get(b, "/get?k=role"); got != "admin" {
		t.Errorf("the admin's own blob reads role = %q, want admin", got)
	}

	// Cross-app: the admin's blob moved to app2 under the same id.
	copyItem(t, direct, adminKey, "app2:"+keyOf(admin.sid()))
	c := start(t, app2, shop())
	if got, _ := admin.get(c, "/get?k=role"); got != "<none>" {
		t.Errorf("blob moved from app1 to app2 accepted: role = %q", got)
	}
	if st := c.m.Stats(); st.SessionsCorrupt != 1 {
		t.Errorf("cross-app: SessionsCorrupt = %d, want 1", st.SessionsCorrupt)
	}
}

// TestSealedSessionSurvivesRelocation: the node is not part of what a
// sealed blob is bound to, so a session moved to another node (sticky
// relocation, non-sticky promotion of the backup copy) still opens.
func TestSealedSessionSurvivesRelocation(t *testing.T) {
	t.Parallel()
	t.Run("sticky", func(t *testing.T) {
		t.Parallel()
		mcs := msmtest.StartN(t, 2)
		cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, NodeRetryInterval: time.Minute,
			Sealer: sealer(t, sealKey(t)), KeyPrefix: "app:"}
		a := start(t, cfg, shop())
		br := browserOnNode(t, a, "n1", "/set?name=ann")
		waitFor(t, 10*time.Second, "backup on n1", hasKey(mcs[0], "app:"+keyOf(br.sid())))
		mcs[0].Kill()
		waitFor(t, 10*time.Second, "relocation to n2", func() bool {
			br.get(a, "/count")
			return nodeOfID(br.sid()) == "n2" && hasKey(mcs[1], "app:"+keyOf(br.sid()))()
		})
		b := start(t, cfg, shop())
		if got, _ := br.get(b, "/get?k=name"); got != "ann" {
			t.Errorf("relocated sealed session on another instance: name = %q, want ann", got)
		}
		if st := b.m.Stats(); st.SessionsCorrupt != 0 {
			t.Errorf("SessionsCorrupt = %d, want 0", st.SessionsCorrupt)
		}
	})
	t.Run("non-sticky", func(t *testing.T) {
		t.Parallel()
		mcs := msmtest.StartN(t, 3)
		cfg := nsConfig(mcs, core.LockNone)
		cfg.NodeRetryInterval = time.Minute
		cfg.Sealer = sealer(t, sealKey(t))
		cfg.KeyPrefix = "app:"
		a := start(t, cfg, nsRoutes())
		br := browserOnNode(t, a, "n1", "/set?name=ann")
		waitFor(t, 10*time.Second, "backup copy on n2", hasKey(mcs[1], "bak:app:"+keyOf(br.sid())))
		mcs[0].Kill()
		if got, _ := br.get(a, "/get?k=name"); got != "ann" {
			t.Fatalf("served from the sealed backup copy: name = %q, want ann", got)
		}
		b := start(t, cfg, nsRoutes())
		if got, _ := br.get(b, "/get?k=name"); got != "ann" || nodeOfID(br.sid()) != "n2" {
			t.Errorf("promoted sealed session on another instance: name = %q on %s, want ann on n2", got, nodeOfID(br.sid()))
		}
		if st := a.m.Stats(); st.SessionsCorrupt != 0 {
			t.Errorf("SessionsCorrupt = %d, want 0", st.SessionsCorrupt)
		}
	})
}
