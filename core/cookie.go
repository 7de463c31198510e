package core

import (
	"net/http"
	"strings"
	"time"

	"github.com/gomsm/msm/core/internal/cachecontrol"
)

// The session id on the wire: read from the request's cookie (or
// Config.Header), written to the response when it is not what the client
// sent, with the cache headers that keep a shared cache from replaying it.

// incomingID returns the session id the client sent, "" if none.
func (m *Manager) incomingID(r *http.Request) string {
	if m.cfg.Header != "" {
		return r.Header.Get(m.cfg.Header)
	}
	return cookieValue(r.Header["Cookie"], m.cfg.Cookie.Name)
}

// cookieValue returns the value of the first cookie called name in the
// Cookie header lines, "" if there is none. Unlike http.Request.Cookie it
// allocates nothing: it runs on every request. The value is not checked
// here: parseID does that before anything uses it.
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// currentID is the session's id now, "" when it has none. Called with s.mu held.
func (m *Manager) currentID(s *Session) string {
	if s.d == nil {
		return ""
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return m.idOf(s.d)
}

// isCurrentID reports whether id is the session's id now ("" when it has
// none), comparing it part by part without building the id string.
// Called with s.mu held.
func (m *Manager) isCurrentID(s *Session, id string) bool {
	d := s.d
	if d == nil {
		return id == ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	base, node, route := d.base, d.node, m.cfg.Route
	if node == "" && route == "" {
		return id == base
	}
	n := len(base) + 1 + len(node)
	if route != "" {
		n += 1 + len(route)
	}
	if len(id) != n || id[:len(base)] != base || id[len(base)] != '-' || id[len(base)+1:len(base)+1+len(node)] != node {
		return false
	}
	rest := id[len(base)+1+len(node):]
	return route == "" || rest[0] == '.' && rest[1:] == route
}

// writeCookieLocked sets or expires the cookie when the session's id is not
// what the client sent, and records the id the client holds now (sentID).
// It only writes headers: headersDueLocked calls it once, after the mode's
// work before the first byte. Called with s.mu held.
func (rw *responseWriter) writeCookieLocked() {
	m := rw.s.m
	if rw.s.lookup != lookupDone || rw.s.failErr != nil {
		// Not looked up, ignored, or the session could not be loaded or
		// saved: whatever the client holds stays as it is (fail answers
		// a request that could not load or save).
		rw.sentID = rw.s.incoming
		return
	}
	now := time.Now()
	if m.isCurrentID(rw.s, rw.s.incoming) && !(rw.s.incoming == "" && rw.s.life == lifeInvalidated) && !m.cookieDue(rw.s, now) {
		rw.sentID = rw.s.incoming
		return // the client has the right id: the common case, no allocation
	}
	id := m.currentID(rw.s)
	rw.sentID = id
	h := rw.ResponseWriter.Header()
	// A response that hands out a session id must not be stored by a shared
	// cache and replayed to others, whatever the handler set.
	cachecontrol.Private(h)
	if m.cfg.Header != "" {
		h.Set(m.cfg.Header, id)
		h.Add("Vary", m.cfg.Header)
		return
	}
	cc := m.cfg.Cookie
	secure := cc.Secure || rw.s.r.TLS != nil || m.cfg.TrustForwardedProto && cachecontrol.ForwardedHTTPS(rw.s.r.Header)
	c := &http.Cookie{
		Name: cc.Name, Value: id, Path: cc.Path, Domain: cc.Domain,
		Secure: secure, HttpOnly: true, SameSite: cc.SameSite, Partitioned: cc.Partitioned,
	}
	switch {
	case id == "":
		c.MaxAge = -1 // invalidated: expire it
	case rw.s.d != nil:
		rw.s.d.mu.Lock()
		c.MaxAge = m.cookieMaxAge(rw.s.d, now) // persist.go
		rw.s.d.mu.Unlock()
	}
	h.Add("Set-Cookie", c.String())
	h.Add("Vary", "Cookie")
}
