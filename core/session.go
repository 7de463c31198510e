package core

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gomsm/msm/core/internal/envelope"
)

// Session is the session of one request. Get it with FromContext. Its
// methods are safe for concurrent use by the goroutines of one request.
//
// A new session is created lazily: only a Set (or Start) gives it an id, a
// cookie and a memcached copy; a request that only reads sends nothing.
type Session struct {
	m  *Manager
	mu sync.Mutex // guards the fields below; taken before d.mu
	d  *sessionData
	// r and incoming (the id the client sent) are kept until the session
	// is first used: only then is it looked up (resolve), so requests that
	// never touch their session cost nothing (sticky mode; non-sticky mode
	// resolves a request that carries an id before its handler runs).
	r        *http.Request
	incoming string
	// The request's session state (state.go lists the states and the
	// moves between them).
	lookup lookupState
	life   lifeState
	reply  replyState
	save   saveState // non-sticky mode only
	use    useFlags
	// lookupErr is why the lookup is unavailable (ErrUnavailable, wrapped:
	// Err reports it) or rejected (the 503's text).
	lookupErr error
	// saveErr is why a non-sticky save failed (save is saveFailed).
	saveErr error
	// held is the session data this request counts itself in (inUse).
	held *sessionData
	// ns is the request's hold on its session in non-sticky mode.
	ns *nsLockState
	// failErr, when set before the response starts, replaces the response
	// by a 503 with its text (responseWriter.fail): a write the request
	// could not make (ErrUnavailable), or a save that failed. A sentinel:
	// its text goes to the client.
	failErr error
	// cookieDue: the cookie must go out on this response even if the id
	// is unchanged (SetPersist changed its lifetime).
	cookieDue bool
	// watched are the byte slices this request read in sticky mode, with
	// their hash at the time: at the end of the request only those whose
	// bytes changed are encoded again (see watchBytes).
	watched []watchedBytes
}

type ctxKey struct{}

// FromContext returns the session of the request whose context is ctx.
// Inside the Middleware it is never nil; outside it is nil.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// ID returns the session id, "" while a new session is unwritten.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data(false)
	return s.m.currentID(s)
}

// Start creates the session now if it has none, so that it gets an id and
// a cookie even before anything is stored in it.
func (s *Session) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeData(true) != nil {
		s.markChanged()
	}
}

// Get returns the attribute stored under key and whether it exists. A value
// loaded from memcached is decoded into the codec's generic types (for CBOR:
// map[string]any, int64/uint64, ...): use GetAs to get a concrete type.
// Changing a returned map, slice or pointer in place is detected at the end
// of the request; there is no need to Set it again. The value is the stored
// one, not a copy: concurrent requests of the same session on this instance
// share it, as servlet sessions share their attributes. A handler that may
// run beside another request of its session must change a copy and Set it
// (maps.Clone, slices.Clone), or the two would race on one map.
func (s *Session) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data(false)
	if d == nil {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.packed != nil {
		if e, ok := d.packedGet(key); !ok {
			return nil, false
		} else if e.kind == packedString {
			return e.value(), true // read in place: the session stays packed
		}
	}
	a := d.attributes()[key]
	if a == nil {
		return nil, false
	}
	if a.strInEnc && a.encOK {
		return textIn(a.enc), true
	}
	if !a.hasValue {
		var v any
		if err := s.m.cfg.Codec.Unmarshal(a.enc, &v); err != nil {
			s.m.stats.decodeErrors.Add(1)
			s.m.logOnce("attribute undecodable", "attr", key, "err", err)
			return nil, false
		}
		a.value, a.hasValue = v, true
	}
	if mutable(a.value) {
		s.markMutable(a, key)
	}
	return a.value, true
}

// GetAs returns the attribute stored under key as a T. It works on any
// instance: a value loaded from memcached is decoded into T, struct types
// included. It returns ErrNoAttribute when the attribute is absent (also
// wrapping ErrUnavailable when the session could not be loaded: see
// Session.Err), and an error when the stored value cannot be a T.
func GetAs[T any](s *Session, key string) (T, error) {
	var zero T
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data(false)
	if d == nil && s.lookup == lookupUnavailable {
		return zero, fmt.Errorf("%w: %q: %w", ErrNoAttribute, key, cause(s.lookupErr))
	}
	if d == nil {
		return zero, fmt.Errorf("%w: %q", ErrNoAttribute, key)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.packed != nil {
		if e, ok := d.packedGet(key); !ok {
			return zero, fmt.Errorf("%w: %q", ErrNoAttribute, key)
		} else if p, ok := any(&zero).(*string); ok && e.kind == packedString {
			*p = e.value() // read in place: the session stays packed
			return zero, nil
		}
	}
	a := d.attributes()[key]
	if a == nil {
		return zero, fmt.Errorf("%w: %q", ErrNoAttribute, key)
	}
	if p, ok := any(&zero).(*string); ok && a.strInEnc && a.encOK {
		*p = textIn(a.enc)
		return zero, nil
	}
	if v, ok := a.value.(T); ok && a.hasValue {
		if mutable(v) {
			s.markMutable(a, key)
		}
		return v, nil
	}
	return decodeAs[T](s, a, key)
}

// decodeAs decodes the attribute's stored bytes into a T, encoding its
// live value first if it is of another type (say an int64 read back as
// int), and keeps the T as the attribute's value.
func decodeAs[T any](s *Session, a *attr, key string) (T, error) {
	var zero T
	if !a.encOK {
		b, err := envelope.Marshal(s.m.cfg.Codec, a.value)
		if err != nil {
			return zero, fmt.Errorf("core: attribute %q: %w", key, cause(err))
		}
		a.setEnc(b)
	}
	var v T
	if err := s.m.cfg.Codec.Unmarshal(a.enc, &v); err != nil {
		return zero, fmt.Errorf("core: attribute %q is not a %T: %w", key, zero, cause(err))
	}
	a.value, a.hasValue, a.strInEnc = v, true, false
	if mutable(v) {
		s.markMutable(a, key)
	}
	return v, nil
}

// GetString returns the attribute under key as a string, or "" when it is
// absent or not a string.
func (s *Session) GetString(key string) string { v, _ := GetAs[string](s, key); return v }

// GetInt returns the attribute under key as an int, or 0 when it is absent
// or not a number.
func (s *Session) GetInt(key string) int { v, _ := GetAs[int](s, key); return v }

// GetInt64 returns the attribute under key as an int64, or 0.
func (s *Session) GetInt64(key string) int64 { v, _ := GetAs[int64](s, key); return v }

// GetFloat64 returns the attribute under key as a float64, or 0.
func (s *Session) GetFloat64(key string) float64 { v, _ := GetAs[float64](s, key); return v }

// GetBool returns the attribute under key as a bool, or false.
func (s *Session) GetBool(key string) bool { v, _ := GetAs[bool](s, key); return v }

// GetBytes returns the attribute under key as a []byte, or nil.
func (s *Session) GetBytes(key string) []byte { v, _ := GetAs[[]byte](s, key); return v }

// GetTime returns the attribute under key as a time.Time, or the zero time.
func (s *Session) GetTime(key string) time.Time { v, _ := GetAs[time.Time](s, key); return v }

// Set stores v under key, creating the session if it has none. v must be
// encodable by the configured codec. Setting a value equal to the stored
// one is not a change: nothing is sent to memcached.
func (s *Session) Set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(true)
	if d == nil {
		return // inert: the request is on an ignored path
	}
	s.markChanged()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attributes()[key] = &attr{value: v, hasValue: true}
}

// Delete removes the attribute under key.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(false)
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if attrs := d.attributes(); attrs[key] != nil {
		delete(attrs, key)
		s.markChanged()
	}
}

// Keys returns the attribute names in sorted order.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data(false)
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	attrs := d.attributes()
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		if !reserved(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// Clear removes every attribute, flash messages included; the session
// itself stays, with its persist choice (SetPersist) and its principal
// (SetPrincipal).
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(false)
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for k := range d.attributes() {
		if !keptByClear(k) {
			delete(d.attrs, k)
			s.markChanged()
		}
	}
}

// Invalidate destroys the session here, on every instance that loads it from
// memcached, and in memcached, and expires the cookie. The Session can be
// used on: a later Set starts a new session with a new id.
func (s *Session) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(false)
	if d == nil {
		return
	}
	s.m.drop(d)
	s.m.stats.invalidated.Add(1)
	s.d = nil
	s.lifeInvalidate()
}

// RenewID gives the session a new id and keeps its data; the old id stops
// working here and in memcached. Call it when privileges change (at login)
// to defeat session fixation (OWASP). It creates the session if it has none.
func (s *Session) RenewID() {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(true)
	if d == nil {
		return // inert: the request is on an ignored path
	}
	if s.life == lifeCreated && !d.backedUp && d.lastSync == 0 {
		return // created by this request: its id was never sent
	}
	if s.replyStarted() {
		// The new id could not reach the client any more: renaming now
		// would lose the session. Call RenewID before writing the body.
		s.m.stats.lateCookies.Add(1)
		s.m.cfg.Logger.Error("gomsm: RenewID after the response started: id kept", "session", fingerprint(d.base))
		return
	}
	s.m.rebase(d)
	s.markChanged()
}

// SetMaxInactive sets this session's idle timeout; <= 0 means never.
func (s *Session) SetMaxInactive(dur time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(true)
	if d == nil {
		return // inert: the request is on an ignored path
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.maxInactive != dur {
		d.maxInactive = dur
		d.backedUp = false // the TTL in memcached must follow
		s.markChanged()
	}
}

// MaxInactive returns this session's idle timeout.
func (s *Session) MaxInactive() time.Duration {
	return readData(s, s.m.cfg.MaxInactive, func(d *sessionData) time.Duration { return d.maxInactive })
}

// CreatedAt returns when the session was created (zero while unwritten).
func (s *Session) CreatedAt() time.Time {
	return readData(s, time.Time{}, func(d *sessionData) time.Time { return d.created.time() })
}

// LastAccessed returns the start of the previous request of the session.
func (s *Session) LastAccessed() time.Time {
	return readData(s, time.Time{}, func(d *sessionData) time.Time { return d.lastAccessed.time() })
}

// readData returns f of the session's data under both locks, or zero when
// the request has no session (none named, or not yet written).
func readData[T any](s *Session, zero T, f func(*sessionData) T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data(false) == nil {
		return zero
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return f(s.d)
}

// IsNew reports whether the session was created by this request.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data(false)
	return s.life == lifeCreated
}
