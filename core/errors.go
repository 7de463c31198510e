package core

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gomsm/msm/core/internal/envelope"
	"github.com/gomsm/msm/core/internal/mcdial"
)

// The errors a user of core can see, and how they reach the handler:
// Session.Err (and GetAs, and the response's writes after a 503) wrap
// them, so errors.Is works; the client of a request that could not load
// or save its session gets a 503 whose body is a sentinel's text, never a
// cause. Their texts name the package once (cause).

// ErrNoAttribute is returned by GetAs when the session has no such attribute.
var ErrNoAttribute = errors.New("core: no such session attribute")

// ErrUnavailable is what Session.Err returns (wrapped, test with errors.Is)
// when the session the client named could not be loaded because memcached
// did not answer (a timeout, a network error, a node marked down). That is
// not "no session": the session may well exist. For the rest of the request
// reads find nothing, the client's cookie is left as it is (never expired,
// never replaced), no new session is created, and a write (Set, Delete,
// Invalidate, ...) made before the response started turns the response
// into a 503 with this error's text: the client may retry, and nobody is
// logged out by a memcached hiccup. In non-sticky mode, where memcached is
// the store, such a request is answered 503 before its handler runs.
var ErrUnavailable = errors.New("core: session unavailable: memcached did not answer, try again")

// ErrAuthFailed is in the error chain (errors.Is) of every operation on a
// node that refused Config.Username and Config.Password, as logged, and of
// the cause of the ErrUnavailable a request then sees: memcached's ASCII
// authentication said no. A certificate that Config.TLS cannot verify
// shows as crypto/tls's and crypto/x509's own errors in the same places.
var ErrAuthFailed = mcdial.ErrAuthFailed

// ErrSessionTooLarge means a session's encoding is over MaxSessionBytes.
// In sticky mode it is not sent to memcached (the previous backup stays)
// and keeps working locally; in non-sticky mode the change is refused
// (ErrSaveFailed, wrapping this). Session.Err reports it (wrapped, with
// the size).
var ErrSessionTooLarge = envelope.ErrTooLarge

// ErrLockTimeout is the text of the 503 a request gets when it could not
// take its session's lock within LockWait. With ProceedOnLockTimeout the
// handler runs without the lock instead, and Session.Err reports
// ErrLockTimeout (wrapped).
var ErrLockTimeout = errors.New("core: session lock not acquired within LockWait")

// ErrSaveFailed is the text of the 503 a non-sticky request gets when its
// change to the session could not be stored: no node took it, memcached
// holds a newer version (saved by a request that did not wait for the
// lock), or the session is too large (then the error also wraps
// ErrSessionTooLarge). The change is not acknowledged; the client's
// cookie still names the last stored state. (When the write timed out on
// a stalled node, that node may still apply it when it resumes: a command
// that timed out may have been executed. The session then holds the
// change; nothing acknowledged is lost either way.) The handler sees it too: a
// write of the response returns it, and Session.Err reports it (wrapped,
// with the cause).
var ErrSaveFailed = errors.New("core: session change not stored in memcached")

// Err reports why this request cannot rely on its session, nil when it
// can; test it with errors.Is. It is, in this order:
//   - ErrUnavailable (wrapped) when the session the client named could not
//     be loaded because memcached did not answer; then reads find nothing
//     and writes are refused (see ErrUnavailable);
//   - in non-sticky mode, ErrSaveFailed (wrapped, with the cause, and
//     ErrSessionTooLarge when that was it) once a save of this request
//     failed: the response is a 503 (see ErrSaveFailed);
//   - in non-sticky mode, ErrLockTimeout (wrapped) when
//     ProceedOnLockTimeout let the handler run without the session's
//     lock: a concurrent request may change the session meanwhile;
//   - ErrSessionTooLarge (wrapped, with the size) when the changes made so
//     far make the session too large for memcached, or when an earlier
//     request did and nothing changed since. In sticky mode the session
//     keeps working on this instance, but memcached keeps its last copy,
//     which another instance would load; in non-sticky mode the save will
//     fail (a 503). To find that out Err encodes the changed attributes,
//     so call it after the writes it should judge, not in a loop.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data(false)
	if err := s.stateErr(); err != nil {
		return err
	}
	s.checkWatched()
	if d == nil || !s.m.backupOn() {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !s.use.has(flagChanged) {
		if d.tooLarge { // (set by the last save, sticky or not)
			return fmt.Errorf("%w: memcached holds an older copy", ErrSessionTooLarge)
		}
		return nil
	}
	return s.m.checkSize(d)
}

// stateErr is what the state machines say to Session.Err: the
// unavailable lookup's error, a failed save's, or the lock a request runs
// without (ProceedOnLockTimeout); nil when none applies.
func (s *Session) stateErr() error {
	switch {
	case s.lookup == lookupUnavailable:
		return s.lookupErr
	case s.save == saveFailed:
		return s.saveErr
	case s.ns != nil && s.ns.unlocked != nil:
		return s.ns.unlocked
	}
	return nil
}

// publicSaveError is what the client of a request whose save failed is
// told: the sentinels only, never the cause (node addresses are no one's
// business outside).
func publicSaveError(err error) error {
	if errors.Is(err, ErrSessionTooLarge) {
		return wrapSave(ErrSessionTooLarge)
	}
	return ErrSaveFailed
}

// cause is err for wrapping into another of core's errors, whose text
// already names the package: its text drops the leading "core: " (of each
// line, for an errors.Join), so a message reads "core: session change not
// stored in memcached: node n1: i/o timeout", never "core: ...: core:
// node n1: ...". errors.Is and errors.As see err through it.
func cause(err error) error {
	if err == nil {
		return nil
	}
	return causeError{err}
}

type causeError struct{ err error }

func (c causeError) Error() string {
	lines := strings.Split(c.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "core: ")
	}
	return strings.Join(lines, "\n")
}

func (c causeError) Unwrap() error { return c.err }

// wrapSave is ErrSaveFailed with err as its cause.
func wrapSave(err error) error { return fmt.Errorf("%w: %w", ErrSaveFailed, cause(err)) }
