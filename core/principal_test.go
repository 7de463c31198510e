package core_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// principalRoutes: /login?u=NAME renews the id and ties the session to
// NAME; /whoami shows the principal and the "user" attribute.
func principalRoutes() routes {
	rt := eventRoutes()
	rt["/login"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		u := r.URL.Query().Get("u")
		s.RenewID()
		s.SetPrincipal(u)
		s.Set("user", u)
		fmt.Fprint(w, "ok")
	}
	rt["/whoami"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", s.Principal(), s.GetString("user"))
	}
	return rt
}

// pair starts two instances of one site on mcs (routes a and b in sticky
// mode, so each sees a take-over) with cfg.
func pair(t *testing.T, cfg core.Config, mcs []*msmtest.Server) (*instance, *instance) {
	t.Helper()
	cfg.Nodes, cfg.SyncBackup = nodesOf(mcs...), true
	ca, cb := cfg, cfg
	if !cfg.NonSticky {
		ca.Route, cb.Route = "a", "b"
	}
	return start(t, ca, principalRoutes()), start(t, cb, principalRoutes())
}

// nodeIndex is the position in mcs of the node with id "nK".
func nodeIndex(id string) int { return int(id[1] - '1') }

// replay asks inst who the holder of the cookie value id is, as an
// attacker replaying a stolen cookie would.
func replay(t *testing.T, inst *instance, id string) string {
	t.Helper()
	br := newBrowser(t)
	br.setSID(id)
	got, _ := br.get(inst, "/whoami")
	return got
}

// TestInvalidatePrincipalEverywhere: a user logged in on two instances in
// three browsers is logged out of all three by one InvalidatePrincipal
// call, also after the memcached node that held the principal's index
// died: every browser loses its session on the instance that served it
// (sticky local copies included), and the old cookies replayed on either
// instance find nothing. Another user and an anonymous visitor keep
// theirs. Both modes.
func TestInvalidatePrincipalEverywhere(t *testing.T) {
	t.Parallel()
	for _, nonSticky := range []bool{false, true} {
		t.Run(fmt.Sprint("nonSticky=", nonSticky), func(t *testing.T) {
			t.Parallel()
			mcs := msmtest.StartN(t, 3)
			a, b := pair(t, core.Config{NonSticky: nonSticky, NodeRetryInterval: time.Minute, OperationTimeout: hungTimeout}, mcs)
			type user struct {
				br   *browser
				inst *instance
			}
			anns := []user{{newBrowser(t), a}, {newBrowser(t), b}, {newBrowser(t), a}}
			for _, u := range anns {
				u.br.get(u.inst, "/login?u=ann")
			}
			bob, anon := newBrowser(t), newBrowser(t)
			bob.get(b, "/login?u=bob")
			anon.get(a, "/set?user=anon")
			var ids []string
			for i, u := range anns {
				if got, _ := u.br.get(u.inst, "/whoami"); got != "ann|ann" {
					t.Fatalf("browser %d after login: %q", i, got)
				}
				ids = append(ids, u.br.sid())
			}
			if list, err := a.m.SessionsOf(context.Background(), "ann"); err != nil || len(list) != 3 {
				t.Fatalf("SessionsOf(ann) = %v, %v; want 3 sessions", list, err)
			}

			// The node holding ann's index dies.
			mcs[nodeIndex(core.PrincipalIndexNodes(a.m, "ann")[0])].Kill()

			n, err := b.m.InvalidatePrincipal(context.Background(), "ann")
			if err != nil || n != 3 {
				t.Fatalf("InvalidatePrincipal = %d, %v; want 3", n, err)
			}
			for i, u := range anns {
				waitFor(t, effectWait, fmt.Sprintf("browser %d logged out", i), func() bool {
					got, _ := u.br.get(u.inst, "/whoami")
					return got == "|"
				})
			}
			for i, id := range ids {
				for _, inst := range []*instance{a, b} {
					if got := replay(t, inst, id); got != "|" {
						t.Errorf("old cookie of browser %d replayed: %q, want no session", i, got)
					}
				}
			}
			if got, _ := bob.get(b, "/whoami"); got != "bob|bob" {
				t.Errorf("bob after ann was logged out: %q", got)
			}
			if got, _ := anon.get(a, "/get?k=user"); got != "anon" {
				t.Errorf("anonymous visitor after ann was logged out: %q", got)
			}
			if list, err := a.m.SessionsOf(context.Background(), "ann"); err != nil || len(list) != 0 {
				t.Errorf("SessionsOf(ann) after InvalidatePrincipal = %v, %v; want none", list, err)
			}
		})
	}
}

// TestSessionsOf lists a principal's live sessions from any instance,
// with their ids (as the cookies name them, without route) and times,
// and leaves out one that logged out.
func TestSessionsOf(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a, b := pair(t, core.Config{}, mcs)
	before := time.Now()
	var brs []*browser
	for _, inst := range []*instance{a, b, a} {
		br := newBrowser(t)
		br.get(inst, "/login?u=ann")
		brs = append(brs, br)
	}
	brs[2].get(a, "/logout")
	list, err := b.m.SessionsOf(context.Background(), "ann")
	if err != nil || len(list) != 2 {
		t.Fatalf("SessionsOf = %v, %v; want 2 sessions", list, err)
	}
	for i, info := range list {
		want, _, _ := strings.Cut(brs[i].sid(), ".")
		if info.ID != want {
			t.Errorf("session %d: ID %q, want %q", i, info.ID, want)
		}
		if info.CreatedAt.Before(before.Add(-time.Second)) || info.LastAccessed.Before(info.CreatedAt) {
			t.Errorf("session %d: CreatedAt %v, LastAccessed %v", i, info.CreatedAt, info.LastAccessed)
		}
	}
	if list, err := a.m.SessionsOf(context.Background(), "nobody"); err != nil || len(list) != 0 {
		t.Errorf("SessionsOf(nobody) = %v, %v", list, err)
	}
}

// TestConcurrentLoginsLoseNoEntry: many logins of one user at the same
// moment on two instances all end up in the index (gets + cas).
func TestConcurrentLoginsLoseNoEntry(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a, b := pair(t, core.Config{NonSticky: true}, mcs)
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			newBrowser(t).get([]*instance{a, b}[i%2], "/login?u=ann")
		})
	}
	wg.Wait()
	if list, err := a.m.SessionsOf(context.Background(), "ann"); err != nil || len(list) != n {
		t.Fatalf("SessionsOf after %d concurrent logins: %d sessions, %v", n, len(list), err)
	}
	if got, err := b.m.InvalidatePrincipal(context.Background(), "ann"); err != nil || got != n {
		t.Errorf("InvalidatePrincipal = %d, %v; want %d", got, err, n)
	}
}

// TestMaxSessionsPerPrincipal: a login beyond the limit ends the
// principal's oldest session, on the instance that holds it.
func TestMaxSessionsPerPrincipal(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a, b := pair(t, core.Config{MaxSessionsPerPrincipal: 2}, mcs)
	first, second, third := newBrowser(t), newBrowser(t), newBrowser(t)
	first.get(a, "/login?u=ann")
	second.get(b, "/login?u=ann")
	third.get(b, "/login?u=ann")
	waitFor(t, effectWait, "the oldest session ended", func() bool {
		got, _ := first.get(a, "/whoami")
		return got == "|"
	})
	for i, br := range []*browser{second, third} {
		if got, _ := br.get(b, "/whoami"); got != "ann|ann" {
			t.Errorf("session %d of the limit: %q", i+2, got)
		}
	}
	if list, err := a.m.SessionsOf(context.Background(), "ann"); err != nil || len(list) != 2 {
		t.Errorf("SessionsOf = %v, %v; want 2", list, err)
	}
}

// TestPrincipalCheckCostsNothingWithoutPrincipal: read-only sticky
// requests of a session without a principal send memcached nothing; one
// with a principal is checked (PrincipalChecks), and a session ended
// elsewhere is counted as revoked where it was served.
func TestPrincipalCheckCostsNothingWithoutPrincipal(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, principalRoutes())
	anon := newBrowser(t)
	anon.get(a, "/set?user=anon")
	ops := func() uint64 {
		var n uint64
		for _, node := range a.m.Stats().Nodes {
			for _, results := range node.Ops {
				for _, v := range results {
					n += v
				}
			}
		}
		return n
	}
	before := ops()
	for range 20 {
		anon.get(a, "/get?k=user")
	}
	if after := ops(); after != before {
		t.Errorf("20 read-only requests without a principal sent %d memcached commands, want 0", after-before)
	}
	if n := a.m.Stats().PrincipalChecks; n != 0 {
		t.Errorf("PrincipalChecks = %d without any principal", n)
	}
	ann := newBrowser(t)
	ann.get(a, "/login?u=ann")
	b := start(t, core.Config{Nodes: nodesOf(mc)}, principalRoutes())
	if n, err := b.m.InvalidatePrincipal(context.Background(), "ann"); err != nil || n != 1 {
		t.Fatalf("InvalidatePrincipal = %d, %v", n, err)
	}
	waitFor(t, effectWait, "ann logged out", func() bool {
		got, _ := ann.get(a, "/whoami")
		return got == "|"
	})
	if st := a.m.Stats(); st.PrincipalChecks == 0 || st.SessionsRevoked != 1 {
		t.Errorf("PrincipalChecks %d, SessionsRevoked %d; want some and 1", st.PrincipalChecks, st.SessionsRevoked)
	}
}

// TestPrincipalKeyIsHashed: a principal string with spaces and CR/LF
// never becomes a memcached key: the index lives under a hash of it.
func TestPrincipalKeyIsHashed(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	inst := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, KeyPrefix: "shop:"}, principalRoutes())
	const p = "ann smith\r\nset evil 0 0 1"
	br := newBrowser(t)
	br.get(inst, "/login?u="+strings.ReplaceAll(strings.ReplaceAll(p, " ", "+"), "\r\n", "%0D%0A"))
	if got, _ := br.get(inst, "/whoami"); got != p+"|"+p {
		t.Fatalf("whoami = %q", got)
	}
	sum := sha256.Sum256([]byte(p))
	if !hasKey(mc, "shop:pidx:"+hex.EncodeToString(sum[:20]))() {
		t.Errorf("no index item under the hash of the principal")
	}
	if hasKey(mc, "evil")() {
		t.Errorf("the principal string reached memcached as a command")
	}
	if n, err := inst.m.InvalidatePrincipal(context.Background(), p); err != nil || n != 1 {
		t.Errorf("InvalidatePrincipal = %d, %v", n, err)
	}
}

// TestPrincipalLocalOnly: without memcached, InvalidatePrincipal and
// SessionsOf work on this instance's sessions.
func TestPrincipalLocalOnly(t *testing.T) {
	t.Parallel()
	inst := start(t, core.Config{MaxSessionsPerPrincipal: 2}, principalRoutes())
	brs := []*browser{newBrowser(t), newBrowser(t), newBrowser(t)}
	for _, br := range brs {
		br.get(inst, "/login?u=ann")
	}
	if got, _ := brs[0].get(inst, "/whoami"); got != "|" {
		t.Errorf("oldest session beyond MaxSessionsPerPrincipal: %q", got)
	}
	if list, _ := inst.m.SessionsOf(context.Background(), "ann"); len(list) != 2 {
		t.Errorf("SessionsOf = %v, want 2", list)
	}
	if n, err := inst.m.InvalidatePrincipal(context.Background(), "ann"); err != nil || n != 2 {
		t.Errorf("InvalidatePrincipal = %d, %v; want 2", n, err)
	}
	if got, _ := brs[2].get(inst, "/whoami"); got != "|" {
		t.Errorf("after InvalidatePrincipal: %q", got)
	}
}

// TestPrincipalIndexSealed: with a Sealer the index in memcached holds no
// session id in the clear, and an index that does not open (garbage, or
// sealed with a key no longer configured) is replaced by the next login
// rather than block the principal for good.
func TestPrincipalIndexSealed(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	sl := sealer(t, sealKey(t))
	a, b := pair(t, core.Config{Sealer: sl}, []*msmtest.Server{mc})
	br := newBrowser(t)
	br.get(a, "/login?u=ann")
	sum := sha256.Sum256([]byte("ann"))
	key := "pidx:" + hex.EncodeToString(sum[:20])
	item, err := mcClient(mc).Get(key)
	if err != nil {
		t.Fatalf("index item: %v", err)
	}
	base, _, _ := strings.Cut(br.sid(), "-")
	if strings.Contains(string(item.Value), base) {
		t.Errorf("the sealed index holds the session id in the clear")
	}
	if list, err := b.m.SessionsOf(context.Background(), "ann"); err != nil || len(list) != 1 {
		t.Fatalf("SessionsOf through the sealed index = %v, %v", list, err)
	}

	item.Value = []byte("not sealed by us")
	if err := mcClient(mc).Set(item); err != nil {
		t.Fatal(err)
	}
	br2 := newBrowser(t)
	br2.get(b, "/login?u=ann")
	if list, err := a.m.SessionsOf(context.Background(), "ann"); err != nil || len(list) != 1 {
		t.Errorf("SessionsOf after the index was garbled and ann logged in again = %v, %v; want the new session", list, err)
	}
	if n, err := a.m.InvalidatePrincipal(context.Background(), "ann"); err != nil || n != 1 {
		t.Errorf("InvalidatePrincipal = %d, %v", n, err)
	}
	waitFor(t, effectWait, "the new session logged out", func() bool {
		got, _ := br2.get(b, "/whoami")
		return got == "|"
	})
}

// TestReservedAttributesIgnoreAttributeFilter: with an AttributeFilter
// that keeps every application attribute local, the principal still
// reaches memcached, also from a session packed between requests: the
// instance that takes the session over knows it (the attribute the filter
// keeps is gone there).
func TestReservedAttributesIgnoreAttributeFilter(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a, b := pair(t, core.Config{AttributeFilter: "^nothing$"}, []*msmtest.Server{mc})
	br := newBrowser(t)
	br.get(a, "/login?u=ann")
	br.get(a, "/count") // a change saved from the packed session
	if got, _ := br.get(b, "/whoami"); got != "ann|" {
		t.Errorf("whoami on the instance that took over = %q, want principal ann and no user (kept local)", got)
	}
	if n, err := b.m.InvalidatePrincipal(context.Background(), "ann"); err != nil || n != 1 {
		t.Errorf("InvalidatePrincipal = %d, %v", n, err)
	}
}
