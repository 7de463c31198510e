package core

import "time"

// Remember-me: a persistent cookie (Config.Cookie.Persist for every
// session, Session.SetPersist for one) carries a Max-Age, and that Max-Age
// is renewed while the session is used, so an active user stays signed in
// however long ago the session was created. The renewal is a Set-Cookie
// header on a response, at most once per refresh interval (a quarter of
// the idle timeout, like the TTL refresh) per session and instance: it
// costs no memcached command. The choice is stored with the session
// (a reserved attribute), so an instance that takes the session over
// keeps it.

// maxCookieAge is the Max-Age of a persistent cookie of a session that
// never idles out and has no MaxLifetime: browsers cap cookie lifetimes at
// 400 days anyway.
const maxCookieAge = 400 * 24 * time.Hour

// recentSessions bounds the per-session memories of persist.go and
// principal.go (last cookie renewal, last principal check): a session
// forgotten there is only renewed or checked again a little early.
const recentSessions = 1 << 14

// SetPersist chooses whether this session's cookie outlives the browser
// session (remember-me): on gives it a Max-Age that is renewed while the
// session is used and never reaches past MaxLifetime; off makes it a
// browser-session cookie. Config.Cookie.Persist is the choice of sessions
// that never call it. The choice is stored with the session, so every
// instance that serves it later keeps it, and the cookie is sent again on
// this response. It creates the session if it has none. Call it before
// the response starts (at login); a later call takes effect when the
// cookie is next renewed.
func (s *Session) SetPersist(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(true)
	if d == nil {
		return // inert: the request is on an ignored path
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.m.persistent(d) == on {
		return
	}
	d.attributes()[attrPersist] = &attr{value: on, hasValue: true}
	s.markChanged()
	if s.replyStarted() {
		s.m.stats.lateCookies.Add(1)
		s.m.logOnce("SetPersist after the response started: the cookie follows when it is next renewed")
		return
	}
	s.cookieDue = true
}

// Persistent reports whether this session's cookie outlives the browser
// session: the session's SetPersist choice, else Config.Cookie.Persist.
func (s *Session) Persistent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data(false)
	if d == nil {
		return s.m.cfg.Cookie.Persist
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return s.m.persistent(d)
}

// persistent is d's persist choice. Called with d.mu held.
func (m *Manager) persistent(d *sessionData) bool {
	if on, ok := reservedValue[bool](m, d, attrPersist); ok {
		return on
	}
	return m.cfg.Cookie.Persist
}

// cookieRefresh is how often a persistent cookie is renewed while its
// session is used.
func cookieRefresh(maxInactive time.Duration) time.Duration {
	if maxInactive <= 0 {
		return 24 * time.Hour
	}
	return touchInterval(maxInactive)
}

// cookieDue reports whether the response must carry the cookie although
// the client has the right id: SetPersist changed its lifetime, or the
// session is persistent and its cookie was not renewed by this instance
// within the refresh interval. Called with s.mu held.
func (m *Manager) cookieDue(s *Session, now time.Time) bool {
	if s.cookieDue {
		return true
	}
	d := s.d
	if d == nil || m.cfg.Header != "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed || !m.persistent(d) {
		return false
	}
	last, ok := m.cookieSent.Get(d.base)
	return !ok || now.Sub(time.Unix(0, int64(last))) >= cookieRefresh(d.maxInactive)
}

// cookieMaxAge returns the Max-Age in seconds of d's cookie sent now, 0
// for a browser-session cookie, and records the renewal. A persistent
// cookie lasts the idle timeout plus the refresh interval (a user active
// just after a renewal keeps the whole idle timeout), and never past
// MaxLifetime. Called with d.mu held.
func (m *Manager) cookieMaxAge(d *sessionData, now time.Time) int {
	if !m.persistent(d) {
		return 0
	}
	age := maxCookieAge
	if mi := d.maxInactive; mi > 0 {
		age = mi + cookieRefresh(mi)
	}
	if lt := m.cfg.MaxLifetime; lt > 0 {
		// (A session created "later", by a clock ahead on another
		// instance, counts as created now.)
		age = min(age, lt-max(d.created.age(instantOf(now)), 0))
	}
	m.cookieSent.Note(d.base, uint64(now.UnixNano()))
	return max(1, int(age/time.Second))
}
