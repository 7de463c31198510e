package core_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// eventLog collects the events of one instance.
type eventLog struct {
	mu     sync.Mutex
	events []core.Event
}

func (l *eventLog) add(e core.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// find returns the first event of kind about id ("" for any), and whether
// there is one.
func (l *eventLog) find(kind core.EventKind, id string) (core.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Kind == kind && (id == "" || e.SessionID == id) {
			return e, true
		}
	}
	return core.Event{}, false
}

// waitEvent polls until l has an event of kind about id and returns it.
func (l *eventLog) waitEvent(t *testing.T, kind core.EventKind, id string) core.Event {
	t.Helper()
	var e core.Event
	waitFor(t, effectWait, "event "+kind.String()+" of "+id, func() bool {
		var ok bool
		e, ok = l.find(kind, id)
		return ok
	})
	return e
}

// eventRoutes adds /renew, /logout and /principal?p=NAME to the shop.
func eventRoutes() routes {
	rt := shop()
	rt["/renew"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.RenewID()
		fmt.Fprint(w, "ok")
	}
	rt["/logout"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Invalidate()
		fmt.Fprint(w, "ok")
	}
	rt["/principal"] = func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.SetPrincipal(r.URL.Query().Get("p"))
		fmt.Fprint(w, "ok")
	}
	return rt
}

// TestEventsOfASessionsLife: OnEvent is told, on the instance where it
// happened, of a session's creation, renewal, take-over by another
// instance, relocation when its node dies, and invalidation, each with
// the session's id at that moment and its principal; and of the expiry
// of an idle session in local memory.
func TestEventsOfASessionsLife(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	var la, lb eventLog
	cfg := core.Config{Nodes: nodesOf(mcs...), SyncBackup: true, NodeRetryInterval: time.Minute}
	ca, cb := cfg, cfg
	ca.Route, cb.Route, ca.OnEvent, cb.OnEvent = "a", "b", la.add, lb.add
	a, b := start(t, ca, eventRoutes()), start(t, cb, eventRoutes())

	br := browserOnNode(t, a, "n1", "/set?user=ann")
	created := la.waitEvent(t, core.EventCreated, br.sid())
	if created.Principal != "" || created.Time.IsZero() {
		t.Errorf("created event %+v: want no principal and a time", created)
	}
	br.get(a, "/principal?p=ann")
	br.get(a, "/renew")
	if e := la.waitEvent(t, core.EventRenewed, br.sid()); e.Principal != "ann" {
		t.Errorf("renewed event %+v: want principal ann", e)
	}
	br.get(b, "/count") // b takes the session over (the route on the id is a's)
	lb.waitEvent(t, core.EventTakenOver, br.sid())

	mcs[0].Kill()
	br.get(b, "/count") // the backup meets the dead n1: the session moves to n2
	waitFor(t, effectWait, "relocation", func() bool { return b.m.Stats().SessionsRelocated == 1 })
	br.get(b, "/count") // the new cookie
	if !strings.HasSuffix(br.sid(), "-n2.b") {
		t.Fatalf("id after the move: %q, want it on n2", br.sid())
	}
	lb.waitEvent(t, core.EventRelocated, br.sid())

	id := br.sid()
	br.get(b, "/logout")
	if e := lb.waitEvent(t, core.EventInvalidated, id); e.Principal != "ann" {
		t.Errorf("invalidated event %+v: want principal ann", e)
	}
	for _, kind := range []core.EventKind{core.EventTakenOver, core.EventInvalidated, core.EventRelocated} {
		if _, ok := la.find(kind, ""); ok {
			t.Errorf("instance a was told of %s, which happened on b", kind)
		}
	}
}

// TestEventExpired: a session idle past its MaxInactive in local memory
// gives one EventExpired (the sweeper's or the next request's, whichever
// comes first).
func TestEventExpired(t *testing.T) {
	t.Parallel()
	var l eventLog
	inst := start(t, core.Config{MaxInactive: 500 * time.Millisecond, OnEvent: l.add}, eventRoutes())
	br := newBrowser(t)
	br.get(inst, "/set?user=ann")
	id := br.sid()
	l.waitEvent(t, core.EventExpired, id)
	br.get(inst, "/get?k=user")
	inst.m.Close()
	n := 0
	for _, e := range l.events {
		if e.Kind == core.EventExpired {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d expired events, want 1", n)
	}
}

// TestEventRelocatedNonSticky: in non-sticky mode a session whose primary
// node died is promoted from its backup copy: EventRelocated with the new id.
func TestEventRelocatedNonSticky(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	var l eventLog
	inst := start(t, core.Config{Nodes: nodesOf(mcs...), NonSticky: true, NodeRetryInterval: time.Minute, OnEvent: l.add}, eventRoutes())
	br := browserOnNode(t, inst, "n1", "/set?user=ann")
	mcs[0].Kill()
	if got, _ := br.get(inst, "/get?k=user"); got != "ann" {
		t.Fatalf("after n1 died: user %q, want ann", got)
	}
	if !strings.HasSuffix(br.sid(), "-n2") {
		t.Fatalf("id after promotion %q, want it on n2", br.sid())
	}
	l.waitEvent(t, core.EventRelocated, br.sid())
}

// TestEventsNeverBlock: an OnEvent that blocks delays no request and no
// Manager call: events beyond the queue are dropped and counted, and the
// ones queued are delivered once OnEvent returns; none is lost untold.
func TestEventsNeverBlock(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	gate := make(chan struct{})
	var open sync.Once
	var mu sync.Mutex
	delivered := 0
	inst := start(t, core.Config{Nodes: nodesOf(mc), OnEvent: func(core.Event) {
		<-gate
		mu.Lock()
		delivered++
		mu.Unlock()
	}}, eventRoutes())
	t.Cleanup(func() { open.Do(func() { close(gate) }) }) // before the Manager's Close, also on failure
	const n = 5000                                        // more than the queue holds
	for i := range n {
		inst.m.Invalidate(fmt.Sprintf("%032x-n1", i)) // an invalidation event each
	}
	br := newBrowser(t)
	if got, _ := br.get(inst, "/count"); got != "1" {
		t.Fatalf("request while OnEvent blocks: %q, want 1", got)
	}
	dropped := inst.m.Stats().EventsDropped
	if dropped == 0 {
		t.Fatalf("EventsDropped = 0 after %d events with OnEvent blocked", n+1)
	}
	open.Do(func() { close(gate) })
	inst.m.Close() // delivers what was queued
	mu.Lock()
	defer mu.Unlock()
	if got := uint64(delivered) + inst.m.Stats().EventsDropped; got != n+1 {
		t.Errorf("delivered %d + dropped %d = %d, want %d", delivered, inst.m.Stats().EventsDropped, got, n+1)
	}
}

// TestEventKindString: kinds have readable names.
func TestEventKindString(t *testing.T) {
	if got := core.EventTakenOver.String(); got != "taken_over" {
		t.Errorf("EventTakenOver = %q", got)
	}
	if got := core.EventKind(99).String(); got != "EventKind(99)" {
		t.Errorf("unknown kind = %q", got)
	}
}
