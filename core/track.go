package core

import (
	"hash/maphash"
	"slices"
)

// A request's use of its session: the lookup on first use (data), writes
// refused while the session is unavailable (writeData), the request's hold
// on the shared data (hold, release), and the change tracking of values
// the handler may change in place (markMutable, checkWatched).

// data returns the session's data, creating the session if create is set and
// it has none. It is called with s.mu held.
func (s *Session) data(create bool) *sessionData {
	if s.lookup == lookupPending {
		s.m.resolve(s)
	}
	if s.lookup == lookupIgnored {
		return nil
	}
	s.markUsed()
	if s.d == nil && create && s.lookup == lookupDone {
		s.d = s.m.create()
		s.hold()
		s.lifeCreate()
	}
	return s.d
}

// writeData is data for a method that writes: when the session is
// unavailable (Err), the write is refused and, if the response has not
// started, the request fails with a 503. It is called with s.mu held.
func (s *Session) writeData(create bool) *sessionData {
	d := s.data(create)
	if d == nil && s.lookup == lookupUnavailable {
		if s.failErr == nil {
			s.failErr = ErrUnavailable // the sentinel: its text goes to the client, the cause does not
		}
		if s.replyStarted() {
			// Too late for a 503: the write is lost, Err says why.
			s.m.logOnce("session write refused after the response started: memcached did not answer", "err", s.lookupErr)
		}
	}
	return d
}

// hold counts this request among the users of s.d (which keeps it from
// being packed), once. Called with s.mu held.
func (s *Session) hold() {
	if s.d == nil || s.held != nil {
		return
	}
	s.d.mu.Lock()
	s.d.inUse++
	s.d.mu.Unlock()
	s.held = s.d
}

// release undoes hold at the end of the request. Called with s.mu held.
func (s *Session) release() {
	if d := s.held; d != nil {
		d.mu.Lock()
		d.inUse--
		d.mu.Unlock()
		s.held = nil
	}
}

// markMutable records that the handler holds a value of attribute key that
// it can change in place: the attribute is encoded again and compared at
// the end of the request (in non-sticky mode also after a save at the
// first byte). A byte slice whose encoding is current is only watched in
// sticky mode: its bytes are hashed now and again at the end of the
// request, and only a change costs an encoding (a large blob read on
// every request must not be encoded on every request). Called with s.mu
// and the data's lock held.
func (s *Session) markMutable(a *attr, key string) {
	if b, ok := a.value.([]byte); ok && a.encOK && s.ns == nil {
		for _, w := range s.watched {
			if w.a == a {
				return
			}
		}
		s.watched = append(s.watched, watchedBytes{a: a, sum: maphash.Bytes(bytesSeed, b)})
		return
	}
	a.encOK = false
	s.markChanged()
	if s.ns != nil && !slices.Contains(s.ns.mutableKeys, key) {
		s.ns.mutableKeys = append(s.ns.mutableKeys, key)
	}
}

// watchedBytes is a byte-slice attribute read by the request, with the
// hash of its bytes when it was read.
type watchedBytes struct {
	a   *attr
	sum uint64
}

// bytesSeed seeds the hashes of watched byte slices: random per process,
// so nobody can craft a change that keeps the hash.
var bytesSeed = maphash.MakeSeed()

// checkWatched marks as changed the watched byte slices whose bytes were
// changed in place since they were read. Called with s.mu held, before the
// session is saved or its size judged.
func (s *Session) checkWatched() {
	if len(s.watched) == 0 || s.d == nil {
		return
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	for _, w := range s.watched {
		b, ok := w.a.value.([]byte)
		if w.a.encOK && (!ok || maphash.Bytes(bytesSeed, b) != w.sum) {
			w.a.encOK = false
			s.markChanged()
		}
	}
}
