package core

import "fmt"

// The state of a request's session, in four small machines, each moved
// only by the methods below (called with s.mu held). Every state a
// request's session can be in is a combination of these:
//
//	lookup  pending ─▶ done | ignored | unavailable | rejected
//	        (on first use, or before the handler in non-sticky mode; an
//	        ignored path starts at ignored)
//	life    found ─▶ created ─▶ invalidated ─▶ created ─▶ ...
//	        found ─▶ invalidated
//	        (found: what the lookup found, maybe nothing)
//	reply   pending ─▶ sent | failed | hijacked
//	save    none ─▶ stored | failed;  stored ─▶ stored | failed
//	        (non-sticky mode: the saves before the first byte and at the end)
//
// and two flags that only say what the handler did: used (it called the
// session) and changed (an attribute may differ from the stored copy: set
// by a write, cleared by a non-sticky save and by invalidation).
//
// The zero Session is at the start of each. Not every combination
// occurs: an ignored lookup moves nothing else; a rejected one only the
// reply (to failed, before the handler runs); an unavailable one leaves
// life at found (no session is created) and a write then sets failErr,
// which makes the reply fail; save moves only in non-sticky mode after a
// lookup that is done.
//
// A move not drawn above is a bug in core: under test (strictStates) it
// panics; in production it is logged once and the state stays as it was.

// lookupState is where the request stands with finding the session the
// client named.
type lookupState uint8

const (
	// lookupPending: not looked up yet (sticky mode looks up on first use).
	lookupPending lookupState = iota
	// lookupDone: looked up; s.d is the session, nil when there is none.
	lookupDone
	// lookupIgnored: the path is ignored (IgnorePattern): the session is
	// inert for this request.
	lookupIgnored
	// lookupUnavailable: memcached did not answer, the session may exist
	// (sticky mode): reads find nothing, writes are refused, Err reports
	// lookupErr.
	lookupUnavailable
	// lookupRejected: non-sticky mode could not lock or load the session:
	// the request is answered 503 with lookupErr before its handler runs.
	lookupRejected
)

// lifeState is what this request did to the existence of its session.
type lifeState uint8

const (
	// lifeFound: the session is what the lookup found (maybe none).
	lifeFound lifeState = iota
	// lifeCreated: this request created s.d (IsNew).
	lifeCreated
	// lifeInvalidated: this request invalidated the session; s.d is nil
	// until a write creates a new one. The cookie is expired.
	lifeInvalidated
)

// replyState is where the response stands.
type replyState uint8

const (
	// replyPending: no header went out; a 503 can still replace the
	// response.
	replyPending replyState = iota
	// replySent: the headers, with the cookie, went out.
	replySent
	// replyFailed: the response was replaced by a 503 (responseWriter.fail).
	replyFailed
	// replyHijacked: the connection was handed over: no cookie went out.
	replyHijacked
)

// saveState is what non-sticky mode's saves of this request did.
type saveState uint8

const (
	// saveNone: nothing was written (or nothing needed writing).
	saveNone saveState = iota
	// saveStored: a save wrote the session to memcached.
	saveStored
	// saveFailed: a save could not store the change (saveErr); the same
	// request does not try again.
	saveFailed
)

// useFlags says what the handler did with its session.
type useFlags uint8

const (
	// flagUsed: the handler called a method of the session.
	flagUsed useFlags = 1 << iota
	// flagChanged: an attribute may differ from the stored copy: the end
	// of the request (or non-sticky mode's save at the first byte)
	// encodes and compares.
	flagChanged
)

// has reports whether every flag of f is set.
func (u useFlags) has(f useFlags) bool { return u&f == f }

// strictStates makes an illegal move panic: export_test.go sets it, so
// every test of the package checks every move it makes.
var strictStates bool

// illegalMove reports a move the diagrams above do not allow.
func (s *Session) illegalMove(machine string, from, to any) {
	msg := fmt.Sprintf("core: illegal session state move: %s %v -> %v", machine, from, to)
	if strictStates {
		panic(msg)
	}
	s.m.logOnce("illegal session state move (a bug in gomsm)", "move", msg)
}

// The legal moves of each machine, as drawn above.

func (from lookupState) canMove(to lookupState) bool {
	return from == lookupPending && to != lookupPending
}

func (from lifeState) canMove(to lifeState) bool {
	return to != lifeFound && to != from
}

func (from replyState) canMove(to replyState) bool {
	return from == replyPending && to != replyPending
}

func (from saveState) canMove(to saveState) bool {
	return from != saveFailed && to != saveNone
}

// lookupEnd moves the lookup out of pending (see lookedUp, ...); err is
// kept as lookupErr.
func (s *Session) lookupEnd(to lookupState, err error) {
	if !s.lookup.canMove(to) {
		s.illegalMove("lookup", s.lookup, to)
		return
	}
	s.lookup, s.lookupErr = to, err
}

// lookedUp ends the lookup: s.d is the session found, nil if none.
func (s *Session) lookedUp() { s.lookupEnd(lookupDone, nil) }

// lookupIgnore makes the session inert: its path is ignored.
func (s *Session) lookupIgnore() { s.lookupEnd(lookupIgnored, nil) }

// lookupUnavailable ends the lookup with memcached not answering: err
// wraps ErrUnavailable and is what Err reports.
func (s *Session) lookupUnavailable(err error) { s.lookupEnd(lookupUnavailable, err) }

// lookupReject ends the lookup with the 503 the request is answered with.
func (s *Session) lookupReject(err error) { s.lookupEnd(lookupRejected, err) }

// lifeCreate records that this request created s.d.
func (s *Session) lifeCreate() {
	if !s.life.canMove(lifeCreated) {
		s.illegalMove("life", s.life, lifeCreated)
		return
	}
	s.life = lifeCreated
}

// lifeInvalidate records that this request invalidated its session (s.d
// is nil now): nothing of it is left to save.
func (s *Session) lifeInvalidate() {
	if !s.life.canMove(lifeInvalidated) {
		s.illegalMove("life", s.life, lifeInvalidated)
		return
	}
	s.life = lifeInvalidated
	s.use &^= flagChanged
}

// replyEnd moves the reply out of pending.
func (s *Session) replyEnd(to replyState) {
	if !s.reply.canMove(to) {
		s.illegalMove("reply", s.reply, to)
		return
	}
	s.reply = to
}

// replyStarted reports whether the headers went out (or were replaced by a
// 503, or the connection was hijacked): the cookie can no longer change.
func (s *Session) replyStarted() bool { return s.reply != replyPending }

// saveStore records a save that wrote the session.
func (s *Session) saveStore() {
	if !s.save.canMove(saveStored) {
		s.illegalMove("save", s.save, saveStored)
		return
	}
	s.save = saveStored
}

// saveFail records a save that could not store the change; err is kept
// as saveErr.
func (s *Session) saveFail(err error) {
	if !s.save.canMove(saveFailed) {
		s.illegalMove("save", s.save, saveFailed)
		return
	}
	s.save, s.saveErr = saveFailed, err
}

// markUsed records that the handler called its session.
func (s *Session) markUsed() { s.use |= flagUsed }

// markChanged records that an attribute may differ from the stored copy.
func (s *Session) markChanged() { s.use |= flagChanged }

// markSaving records that the changes so far are being saved: a later
// change must be marked again.
func (s *Session) markSaving() { s.use &^= flagChanged }

func (l lookupState) String() string {
	return [...]string{"pending", "done", "ignored", "unavailable", "rejected"}[l]
}

func (l lifeState) String() string { return [...]string{"found", "created", "invalidated"}[l] }

func (r replyState) String() string { return [...]string{"pending", "sent", "failed", "hijacked"}[r] }

func (v saveState) String() string { return [...]string{"none", "stored", "failed"}[v] }
