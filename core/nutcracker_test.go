package core_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Tests through a proxy tier: twemproxy (nutcracker) in front of two real
// memcached, with the recipe of docs/nutcracker.yml. nutcracker 0.5 has no
// gat (it closes the connection on one): every node learns that at its
// first load and reads with get + touch from then on, counted in
// NodeStats.Fallbacks.

// recipeProxy starts nutcracker with docs/nutcracker.yml in front of mcs.
func recipeProxy(t *testing.T, mcs ...*msmtest.Server) *msmtest.Nutcracker {
	t.Helper()
	recipe, err := os.ReadFile("../docs/nutcracker.yml")
	if err != nil {
		t.Fatal(err)
	}
	return msmtest.StartNutcracker(t, string(recipe), mcs...)
}

func TestStickyBackupAndInstanceLossThroughNutcracker(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	proxy := recipeProxy(t, mcs...)
	cfg := core.Config{Nodes: "n1:" + proxy.Addr()}
	survivesInstanceLoss(t, cfg) // A backs up through the proxy, B loads through it
	b := start(t, cfg, shop())
	br := newBrowser(t)
	br.get(b, "/set?name=bob")
	waitFor(t, effectWait, "the backup", func() bool { return b.m.Stats().BackupsOK >= 1 })
	c := start(t, cfg, shop())
	if got, _ := br.get(c, "/get?k=name"); got != "bob" {
		t.Fatalf("instance C reads name %q through the proxy, want bob", got)
	}
	n := c.m.Stats().Nodes[0]
	if n.Fallbacks["gat"] == 0 || !n.Up || n.LastError != "" {
		t.Errorf("node behind nutcracker: fallbacks %v, up %v, last error %q; want gat fallbacks counted and the node up", n.Fallbacks, n.Up, n.LastError)
	}
	if st := c.m.Stats(); st.NodeDownEvents != 0 {
		t.Errorf("the missing gat counted the proxy down %d times", st.NodeDownEvents)
	}
}

func TestNonStickyThroughNutcracker(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	// Two proxy pools as two nodes, each over its own servers: non-sticky
	// keeps its second copy, and its lock, on the other pool. (Two nodes
	// that reach the same servers would share the lock item and the
	// copies: never configure a pool twice.)
	p1, p2 := recipeProxy(t, mcs[0]), recipeProxy(t, mcs[1])
	for _, locking := range []string{core.LockNone, core.LockAll} {
		cfg := core.Config{Nodes: "n1:" + p1.Addr() + ",n2:" + p2.Addr(), NonSticky: true, LockingMode: locking}
		survivesInstanceLoss(t, cfg)
	}
	// Locks are released through the proxy: a user's next request does
	// not wait for the last one's lock to expire. A short hold is released
	// by a plain delete; with a lock expiry of 2 s every release is a
	// compare-and-delete, which the proxy refuses (cas with a negative
	// expiry): its fallback is used and counted.
	for _, expiry := range []time.Duration{time.Minute, 2 * time.Second} {
		cfg := core.Config{Nodes: "n1:" + p1.Addr() + ",n2:" + p2.Addr(), NonSticky: true, LockingMode: core.LockAll, LockExpiry: expiry}
		a := start(t, cfg, shop())
		br := newBrowser(t)
		for range 5 {
			br.get(a, "/cart/add?item=tea")
		}
		st := a.m.Stats()
		if st.LockWaits != 0 {
			t.Errorf("LockExpiry %v: %d lock waits, want none", expiry, st.LockWaits)
		}
		if falls := st.Nodes[0].Fallbacks["cas_delete"]; (expiry == time.Minute) != (falls == 0) {
			t.Errorf("LockExpiry %v: compare-and-delete fallbacks %d (want them only when every release compares)", expiry, falls)
		}
	}
}

// A memcached behind the proxy dies: the proxy hides it (gomsm's node
// stays up); with auto_eject_hosts its keys go to the survivor, and a
// sticky instance backs its sessions up there again at their next change,
// so another instance still serves them.
func TestServerDeathBehindNutcracker(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	proxy := recipeProxy(t, mcs...)
	cfg := core.Config{Nodes: "n1:" + proxy.Addr(), SyncBackup: true}
	a := start(t, cfg, shop())
	var browsers []*browser
	for range 20 {
		br := newBrowser(t)
		br.get(a, "/set?name=ann")
		browsers = append(browsers, br)
	}
	mcs[0].Kill()
	// Each user changes the session until the change is backed up: the
	// backup that meets the dead server fails, the proxy ejects it, a
	// later one lands on the survivor.
	want := make([]string, len(browsers))
	for i, br := range browsers {
		attempt := 0
		waitFor(t, effectWait, "a backup through the proxy", func() bool {
			attempt++
			want[i] = fmt.Sprintf("ann-%d-%d", i, attempt)
			before := a.m.Stats().BackupsOK
			br.get(a, "/set?name="+want[i])
			return a.m.Stats().BackupsOK > before
		})
	}
	// Every server_retry_timeout the proxy puts the dead server back into
	// its ring and sends it the next request for one of its keys: that
	// read fails (SERVER_ERROR), gomsm answers it as unavailable (no
	// attributes, Err ErrUnavailable, the cookie kept) and the proxy
	// ejects the server again. So a user may have to ask twice, but must
	// never read another value or lose the session.
	rt := shop()
	rt["/name"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		if v, ok := s.Get("name"); ok {
			fmt.Fprint(w, v)
		} else if errors.Is(s.Err(), core.ErrUnavailable) {
			fmt.Fprint(w, "<unavailable>")
		} else {
			fmt.Fprint(w, "<none>")
		}
	}
	b := start(t, cfg, rt)
	for i, br := range browsers {
		sid := br.sid()
		waitFor(t, effectWait, want[i]+" on instance B", func() bool {
			got, _ := br.get(b, "/name")
			if got != want[i] && got != "<unavailable>" {
				t.Fatalf("after a server behind the proxy died, instance B reads name %q, want %s", got, want[i])
			}
			return got == want[i]
		})
		if br.sid() != sid {
			t.Errorf("user %d: cookie changed from %s to %s", i, sid, br.sid())
		}
	}
	if n := a.m.Stats().Nodes[0]; !n.Up {
		t.Logf("gomsm saw the proxy down for a while (last error %q)", n.LastError)
	}
}

// A restarted memcached leaves dead connections in the pool: that EOF is
// not taken for a server without gat.
func TestRestartIsNotAMissingCommand(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 1)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true}
	a := start(t, cfg, shop())
	b := start(t, cfg, shop())
	var browsers []*browser
	for range 16 {
		br := newBrowser(t)
		br.get(a, "/set?name=ann")
		br.get(b, "/get?k=name") // B's pool fills with connections
		browsers = append(browsers, br)
	}
	mcs[0].Restart()
	br := newBrowser(t)
	br.get(a, "/set?name=after")
	br.get(b, "/get?k=name")
	if n := b.m.Stats().Nodes[0]; len(n.Fallbacks) != 0 {
		t.Errorf("after a restart, node fallbacks %v: a dead pooled connection was taken for a missing gat", n.Fallbacks)
	}
}
