package core_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

func TestURIPatternLocksOnlyMatchingPaths(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	a := start(t, nsConfig(mcs, "uriPattern:^/cart"), nsRoutes())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	locks := func() uint64 { return a.m.Stats().LockWait.Count }                   // one per request that locked
	adds := func() uint64 { return mcs[0].Counters().Set + mcs[1].Counters().Set } // storage commands, lock adds among them
	before, addsBefore := locks(), adds()
	br.get(a, "/get?k=name")
	if d, da := locks()-before, adds()-addsBefore; d != 0 || da != 0 {
		t.Errorf("/get took %d locks (%d storage commands), want 0", d, da)
	}
	br.get(a, "/cart/add?item=x")
	if d := locks() - before; d != 1 {
		t.Errorf("/cart/add took %d locks, want 1", d)
	}
}

func TestLRUBoundReloadsEvictedSessionsFromMemcached(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxLocalSessions: 5}, shop())
	var users []*browser
	for i := range 10 {
		br := newBrowser(t)
		br.get(a, "/set?name=u"+string(rune('0'+i)))
		users = append(users, br)
	}
	if n := a.m.Stats().LocalSessions; n != 5 {
		t.Errorf("LocalSessions = %d, want the bound 5", n)
	}
	if got, _ := users[0].get(a, "/get?k=name"); got != "u0" {
		t.Errorf("evicted session reads name=%q, want u0", got)
	}
	if st := a.m.Stats(); st.SessionsLoaded != 1 {
		t.Errorf("SessionsLoaded = %d, want 1 (the evicted one)", st.SessionsLoaded)
	}
}

func TestRouteTakeOverReloadsStaleLocalCopy(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, Route: "a"}, shop())
	b := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, Route: "b"}, shop())
	br := newBrowser(t)
	br.get(a, "/set?v=1")
	if !strings.HasSuffix(br.sid(), ".a") {
		t.Fatalf("id %q does not carry route a", br.sid())
	}
	br.get(b, "/set?v=2") // b takes over: loads, changes, re-routes the cookie
	if !strings.HasSuffix(br.sid(), ".b") {
		t.Errorf("after take-over the id is %q, want route b", br.sid())
	}
	if got, _ := br.get(a, "/get?k=v"); got != "2" {
		t.Errorf("back on a (which holds v=1 locally): v=%q, want 2", got)
	}
	if !strings.HasSuffix(br.sid(), ".a") {
		t.Errorf("cookie not re-routed to a: %q", br.sid())
	}
}

func TestAttributeFilterKeepsOtherAttributesLocal(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, AttributeFilter: "^keep"}
	a := start(t, cfg, shop())
	b := start(t, cfg, shop())
	br := newBrowser(t)
	br.get(a, "/set?keep_me=1&local_only=2")
	if got, _ := br.get(a, "/get?k=local_only"); got != "2" {
		t.Errorf("local attribute lost on its own instance: %q", got)
	}
	before := mc.Counters()
	br.get(a, "/set?local_only=3") // a change only to a local attribute: nothing to send
	if d := mc.Counters().Sub(before); d.Set != 0 {
		t.Errorf("changing a filtered-out attribute cost %d sets", d.Set)
	}
	if got, _ := br.get(b, "/get?k=keep_me"); got != "1" {
		t.Errorf("instance B: keep_me=%q, want 1", got)
	}
	if got, _ := br.get(b, "/get?k=local_only"); got != "<none>" {
		t.Errorf("instance B sees the filtered-out attribute: %q", got)
	}
}

func TestSyncBackupTimeoutIsBoundedAndCounted(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, BackupTimeout: 50 * time.Millisecond,
		OperationTimeout: 2 * time.Second}
	a := start(t, cfg, shop())
	br := newBrowser(t)
	br.get(a, "/set?v=1")
	// On a busy machine even the healthy node may outlive 50ms: count only
	// the timeouts of the backup sent to the paused node.
	before := a.m.Stats().BackupsTimedOut
	mc.Pause()
	t.Cleanup(mc.Resume)
	br.get(a, "/set?v=2")
	if st := a.m.Stats(); st.BackupsTimedOut-before != 1 {
		t.Errorf("BackupsTimedOut went up by %d, want 1", st.BackupsTimedOut-before)
	}
	if got, _ := br.get(a, "/get?k=v"); got != "2" {
		t.Errorf("session after a timed-out backup: v=%q, want 2", got)
	}
}

func TestKeyPrefixWithDashesAndDotsRoutesByNodeID(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, KeyPrefix: "shop-1.eu:"}
	a := start(t, cfg, shop())
	b := start(t, cfg, shop())
	for range 6 {
		br := newBrowser(t)
		br.get(a, "/set?name=ann")
		if got, _ := br.get(b, "/get?k=name"); got != "ann" {
			t.Fatalf("prefix with - and .: instance B reads %q", got)
		}
		srv := mcs[0]
		if nodeOfID(br.sid()) == "n2" {
			srv = mcs[1]
		}
		if _, err := mcClient(srv).Get("shop-1.eu:" + keyOf(br.sid())); err != nil {
			t.Errorf("key with prefix not on the session's node: %v", err)
		}
	}
}

func TestDisabledSendsNothingUntilEnabled(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, Disabled: true}, shop())
	br := newBrowser(t)
	before := mc.Counters()
	br.get(a, "/set?name=ann")
	br.get(a, "/get?k=name")
	if d := mc.Counters().Sub(before); d != (msmtest.Counters{}) {
		t.Errorf("disabled manager talked to memcached: %+v", d)
	}
	a.m.SetEnabled(true)
	br.get(a, "/set?name=bob")
	if d := mc.Counters().Sub(before); d.Set != 1 {
		t.Errorf("enabled again: %d sets, want 1", d.Set)
	}
}

func TestHeaderCarriesTheIDInsteadOfACookie(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), Header: "X-Session"}, shop())
	resp, err := http.Get(a.srv.URL + "/set?name=ann")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Session")
	if id == "" || len(resp.Cookies()) != 0 {
		t.Fatalf("header mode: X-Session=%q, cookies %v", id, resp.Cookies())
	}
	req, _ := http.NewRequest("GET", a.srv.URL+"/get?k=name", nil)
	req.Header.Set("X-Session", id)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	if string(buf[:n]) != "ann" {
		t.Errorf("read back through the header: %q", buf[:n])
	}
	if resp.Header.Get("X-Session") != "" {
		t.Errorf("unchanged id re-sent in the response header")
	}
}

func TestPackedIdleSessionServesIntactWithoutResending(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true, CompactAfter: 100 * time.Millisecond}, shop())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	br.get(a, "/cart/add?item=tea")
	waitFor(t, effectWait, "the idle session to be packed", func() bool { return a.m.Stats().SessionsPacked >= 1 })
	before := mc.Counters()
	if got, _ := br.get(a, "/cart"); got != "tea|3|ann" {
		t.Errorf("cart after packing: %q", got)
	}
	if got, _ := br.get(a, "/get?k=name"); got != "ann" {
		t.Errorf("name after packing: %q", got)
	}
	if d := mc.Counters().Sub(before); d.Set != 0 || d.Get != 0 {
		t.Errorf("reading a packed session cost %d sets and %d gets, want 0", d.Set, d.Get)
	}
}
