package core_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Security tests of a session id's life: an unknown id is never adopted,
// RenewID and Invalidate kill the old id on every instance, MaxLifetime
// ends a busy session. docs/security.md refers to them.

// TestUnknownIDIsNeverAdopted: a well-formed id the client chose (session
// fixation) never becomes the id of a new session.
func TestUnknownIDIsNeverAdopted(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc), SyncBackup: true}, secRoutes())
	for _, chosen := range []string{secBase(t) + "-n1", secBase(t)} {
		c := &secClient{t: t, id: chosen}
		c.get(a, "/set?name=eve")
		if c.id == "" || c.id == chosen || strings.HasPrefix(c.id, chosen[:32]) {
			t.Errorf("client chose %q, session got id %q", chosen, c.id)
		}
	}
}

// TestRenewIDKillsTheOldID: RenewID gives a new id with the same data;
// the old id is dead on this instance, on another instance and in
// memcached.
func TestRenewIDKillsTheOldID(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true}
	a := start(t, cfg, secRoutes())
	b := start(t, cfg, secRoutes())
	direct := mcClient(mc)

	c := &secClient{t: t}
	c.get(a, "/set?cart=tea")
	oldID := c.id
	body := c.get(a, "/login?user=ann")
	newID := c.id
	if newID == "" || newID == oldID || newID[:32] == oldID[:32] || body != newID {
		t.Fatalf("RenewID: old %q, new %q (ID() said %q): want a new base", oldID, newID, body)
	}
	if got := c.get(a, "/get?k=cart"); got != "tea" {
		t.Errorf("data lost by RenewID: cart = %q", got)
	}
	if got := c.get(b, "/get?k=user"); got != "ann" {
		t.Errorf("new id on another instance: user = %q", got)
	}
	if _, err := direct.Get(keyOf(newID)); err != nil {
		t.Errorf("new id not in memcached: %v", err)
	}

	attacker := &secClient{t: t, id: oldID}
	for name, inst := range map[string]*instance{"this instance": a, "another instance": b} {
		if got := attacker.get(inst, "/get?k=cart"); got != "<none>" {
			t.Errorf("old id still works on %s: cart = %q", name, got)
		}
	}
	fresh := start(t, cfg, secRoutes())
	if got := attacker.get(fresh, "/get?k=user"); got != "<none>" {
		t.Errorf("old id works on a new instance: user = %q", got)
	}
	if !goneFromMemcached(direct, keyOf(oldID)) {
		t.Errorf("old id still in memcached")
	}
}

// TestInvalidateIsGoneEverywhere: after Invalidate the id works nowhere,
// memcached holds nothing under it, and the cookie is expired.
func TestInvalidateIsGoneEverywhere(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true}
	a := start(t, cfg, secRoutes())
	b := start(t, cfg, secRoutes())
	c := &secClient{t: t}
	c.get(a, "/set?name=ann")
	id := c.id
	if got := c.get(a, "/logout"); got != "bye" || c.id != "" {
		t.Fatalf("logout: body %q, cookie left %q (want it expired)", got, c.id)
	}
	stolen := &secClient{t: t, id: id}
	for name, inst := range map[string]*instance{"this instance": a, "another instance": b} {
		if got := stolen.get(inst, "/get?k=name"); got != "<none>" {
			t.Errorf("invalidated id works on %s: %q", name, got)
		}
	}
	if !goneFromMemcached(mcClient(mc), keyOf(id)) {
		t.Errorf("invalidated session still in memcached")
	}
}

// TestOldIDDiesOnInstancesHoldingACopy: in sticky mode an instance that
// served the session before (and holds it in local memory, say because a
// thief's requests went there) must stop serving the old id once it was
// renewed or invalidated elsewhere, and must never write it back to
// memcached, where every instance could load it again.
func TestOldIDDiesOnInstancesHoldingACopy(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	// MaxInactive leaves a slow machine seconds between the requests.
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxInactive: 8 * time.Second}
	direct := mcClient(mc)
	for _, action := range []string{"/login?user=ann", "/logout"} {
		a := start(t, cfg, secRoutes())
		b := start(t, cfg, secRoutes())
		victim := &secClient{t: t}
		victim.get(a, "/set?cart=tea")
		oldID := victim.id
		thief := &secClient{t: t, id: oldID} // a stolen (or fixed) cookie
		if got := thief.get(b, "/get?k=cart"); got != "tea" {
			t.Fatalf("setup: b does not serve the session: %q", got)
		}
		victim.get(a, action)
		// Past MaxInactive/4: b's next use of its copy is due to refresh it.
		time.Sleep(2100 * time.Millisecond)
		served := thief.get(b, "/get?k=cart")
		thief.get(b, "/count")
		if served == "tea" || !goneFromMemcached(direct, keyOf(oldID)) {
			t.Errorf("%s on a: b still serves the old id (cart=%q), or memcached holds it again", action, served)
		}
		if thief.id == oldID {
			t.Errorf("%s: b kept the old id %q", action, oldID)
		}
	}
}

// TestMaxLifetimeEndsABusySession: a session used every 500ms still ends
// MaxLifetime after its creation, here and on every other instance.
func TestMaxLifetimeEndsABusySession(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	const lifetime = 3 * time.Second
	cfg := core.Config{Nodes: nodesOf(mc), SyncBackup: true, MaxLifetime: lifetime}
	a := start(t, cfg, secRoutes())
	b := start(t, cfg, secRoutes())
	c := &secClient{t: t}
	// The session is created between t0 and created: it must live until
	// t0+lifetime at least and must be gone by created+lifetime at the
	// latest, however long the requests take on a busy machine.
	t0 := time.Now()
	if got := c.get(a, "/count"); got != "1" {
		t.Fatalf("first count %q", got)
	}
	created := time.Now()
	first := c.id
	want := 2
	renewed := false
	for !renewed && time.Since(t0) < lifetime+effectWait {
		time.Sleep(500 * time.Millisecond)
		sent := time.Since(created)
		got := c.get(a, "/count")
		done := time.Since(t0)
		switch {
		case c.id == first && !renewed:
			if sent > lifetime+100*time.Millisecond {
				t.Fatalf("session still alive %v after creation, MaxLifetime %v", sent, lifetime)
			}
			if got != strconv.Itoa(want) {
				t.Fatalf("count %s at %v, want %d", got, sent, want)
			}
			want++
		case !renewed:
			renewed = true
			if done < lifetime {
				t.Fatalf("session ended after %v, before MaxLifetime %v", done, lifetime)
			}
			if got != "1" {
				t.Errorf("new session after the lifetime counts %s, want 1", got)
			}
		}
	}
	if !renewed {
		t.Fatal("the session never ended")
	}
	old := &secClient{t: t, id: first}
	for name, inst := range map[string]*instance{"this instance": a, "another instance": b} {
		if got := old.get(inst, "/get?k=n"); got != "<none>" {
			t.Errorf("expired id works on %s: n = %q", name, got)
		}
	}
}
