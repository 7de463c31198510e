package core

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Session lifecycle events (Config.OnEvent), the counterpart of servlet
// session listeners: audit trails, cleanup of per-session resources.
// Events are put in a bounded queue and delivered by one goroutine, so a
// slow or blocking OnEvent never holds a lock of the Manager or delays a
// request; when the queue is full, events are dropped and counted
// (Stats.EventsDropped).

// EventKind says what happened to a session.
type EventKind int

// The kinds of Event.
const (
	// EventCreated: a request created the session (its first write; an
	// unwritten new session creates nothing). Principal is "" here: a
	// session is tied to a principal after it exists.
	EventCreated EventKind = iota + 1
	// EventInvalidated: the session was ended by Session.Invalidate,
	// Manager.Invalidate, Manager.InvalidatePrincipal or the
	// MaxSessionsPerPrincipal bound, on the instance that ended it.
	EventInvalidated
	// EventRenewed: Session.RenewID gave the session a new id; SessionID
	// is the new one.
	EventRenewed
	// EventExpired: this instance found a session in its local memory idle
	// past its MaxInactive or older than MaxLifetime, either its sweeper
	// or a request that named it first. Sessions memcached lets expire by
	// their TTL go silently: nothing watches memcached's expiry, so in
	// non-sticky mode, which keeps no local copy, this event does not
	// occur.
	EventExpired
	// EventRelocated: the session moved to another memcached node (its
	// node failed, or non-sticky mode promoted its backup copy);
	// SessionID is the new id.
	EventRelocated
	// EventTakenOver: a sticky instance loaded from memcached a session it
	// did not hold (another instance served it before, or this one
	// restarted) and serves it from now on.
	EventTakenOver
)

var eventNames = [...]string{"", "created", "invalidated", "renewed", "expired", "relocated", "taken_over"}

// String returns the kind's name in lower case ("created", "taken_over").
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something that happened to a session on this instance.
type Event struct {
	Kind EventKind
	// SessionID is the session's id as this instance serves it (after the
	// change, for EventRenewed and EventRelocated). It is a credential:
	// log a hash of it, not the id.
	SessionID string
	// Principal is the session's principal (SetPrincipal), "" if none.
	Principal string
	// Time is when the event happened.
	Time time.Time
}

// eventQueueSize bounds the events waiting for delivery.
const eventQueueSize = 4096

// eventQueue delivers events to Config.OnEvent from one goroutine.
type eventQueue struct {
	fn      func(Event)
	q       chan Event
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool
	dropped *atomic.Uint64
	m       *Manager
}

// newEventQueue starts the delivery goroutine; nil when fn is nil, and
// then nothing is queued at all.
func newEventQueue(m *Manager, fn func(Event)) *eventQueue {
	if fn == nil {
		return nil
	}
	e := &eventQueue{fn: fn, q: make(chan Event, eventQueueSize), stop: make(chan struct{}), dropped: &m.stats.eventsDropped, m: m}
	e.wg.Add(1)
	go e.run()
	return e
}

// run delivers events until close, then the ones queued before it.
func (e *eventQueue) run() {
	defer e.wg.Done()
	for {
		select {
		case ev := <-e.q:
			e.deliver(ev)
		case <-e.stop:
			for {
				select {
				case ev := <-e.q:
					e.deliver(ev)
				default:
					return
				}
			}
		}
	}
}

// deliver calls OnEvent; a panic in it is logged, not fatal.
func (e *eventQueue) deliver(ev Event) {
	defer func() {
		if p := recover(); p != nil {
			e.m.logOnce("OnEvent panicked", "event", ev.Kind.String(), "panic", fmt.Sprint(p))
		}
	}()
	e.fn(ev)
}

// emit queues ev without ever blocking: a full queue, or a closed one,
// drops it (counted).
func (e *eventQueue) emit(ev Event) {
	if e.closed.Load() {
		e.dropped.Add(1)
		return
	}
	select {
	case e.q <- ev:
	default:
		e.dropped.Add(1)
	}
}

// close delivers the queued events and stops the goroutine.
func (e *eventQueue) close() {
	if e == nil || e.closed.Swap(true) {
		return
	}
	close(e.stop)
	e.wg.Wait()
}

// emitFor queues an event of kind about d, when OnEvent is set. It takes
// d.mu: call it without it.
func (m *Manager) emitFor(kind EventKind, d *sessionData) {
	if m.events == nil {
		return
	}
	now := time.Now()
	d.mu.Lock()
	id := m.idOf(d)
	principal := m.principalOf(d)
	d.mu.Unlock()
	m.events.emit(Event{Kind: kind, SessionID: id, Principal: principal, Time: now})
}

// principalOf is d's principal, "" if none. Called with d.mu held.
func (m *Manager) principalOf(d *sessionData) string {
	p, _ := reservedValue[string](m, d, attrPrincipal)
	return p
}
