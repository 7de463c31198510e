package core

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Middleware returns net/http middleware that gives every request a
// session (FromContext). This is the whole request cycle:
//
//  1. an ignored path passes through with an inert session;
//  2. sticky mode: when the handler first uses its session, the id it sent
//     is validated, then looked up in local memory, then loaded from the
//     memcached node named in it (resolve, find). Non-sticky mode: a
//     request that carries an id takes its lock and loads its session
//     before the handler runs (resolve, nsResolve in nonsticky.go);
//  3. the handler runs; a new session comes to exist only when it writes;
//  4. before the first byte of the response: non-sticky mode saves the
//     session (read-your-writes), then the cookie goes out if the id is
//     not what the client sent (writeCookieLocked);
//  5. after the handler (finish): sticky mode backs a changed session up
//     and refreshes an unchanged one's TTL (save, in backup.go); non-sticky
//     mode saves what changed since the first byte and frees its locks
//     (nsFinish). A handler that panicked saves nothing (abandon).
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.stats.requests.Add(1)
		if m.cfg.ignore != nil && m.cfg.ignore.MatchString(r.URL.Path) {
			m.stats.ignored.Add(1)
			// FromContext is never nil inside the middleware: an ignored
			// request gets an inert session that stores nothing.
			s := &Session{m: m, r: r, resolved: true, ignored: true}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
			return
		}
		s := &Session{m: m, r: r, incoming: m.incomingID(r)}
		rw := &responseWriter{ResponseWriter: w, s: s}
		if m.ns != nil && s.incoming != "" {
			// Non-sticky: the lock (if any) must be held before the handler
			// runs; no lock, or no answer from memcached, is a 503 now.
			rejected := func() error {
				s.mu.Lock()
				defer s.mu.Unlock()
				m.resolve(s)
				return s.rejected
			}()
			if rejected != nil {
				rw.fail(rejected)
				return
			}
		}
		panicked := true
		defer func() {
			if panicked {
				m.abandon(s)
			}
		}()
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
		panicked = false
		m.finish(s, rw)
	})
}

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

// resolve looks the request's session up, on its first use by the handler
// (step 2 of the cycle, done lazily). Called with s.mu held.
func (m *Manager) resolve(s *Session) {
	s.resolved = true
	if m.cfg.ignore != nil && m.cfg.RoutePattern != nil {
		if p := m.cfg.RoutePattern(s.r); p != "" && m.cfg.ignore.MatchString(p) {
			s.ignored = true
			m.stats.ignored.Add(1)
			return
		}
	}
	if s.incoming == "" {
		return
	}
	if m.ns == nil {
		var err error
		if s.d, err = m.find(s.incoming); err != nil {
			m.stats.unavailable.Add(1)
			s.err = fmt.Errorf("%w (%w)", ErrUnavailable, err)
		}
		s.hold()
		return
	}
	id, ok := parseID(s.incoming)
	if !ok {
		m.stats.invalidIDs.Add(1)
		return
	}
	if !m.backupOn() {
		return
	}
	s.rejected = m.nsResolve(s, id)
}

// find returns the session that the cookie value names, or nil when there
// is none. It returns an error, and no session, only when the session is
// neither here nor known to be absent: memcached could not answer (a
// failure is not a miss).
func (m *Manager) find(value string) (*sessionData, error) {
	id, ok := parseID(value)
	if !ok {
		m.stats.invalidIDs.Add(1)
		return nil, nil
	}
	now := time.Now()
	if d := m.store.get(id.base); d != nil {
		d.mu.Lock()
		if d.removed || d.expired(now, m.cfg.MaxLifetime) {
			d.mu.Unlock()
			m.expire(d)
			return nil, nil
		}
		// Another instance served this session since we did (its route is
		// on the id): our copy may be stale, take memcached's.
		takenOver := id.route != "" && m.cfg.Route != "" && id.route != m.cfg.Route && m.backupOn()
		// A copy not synced with memcached for a while may be stale: another
		// instance may have changed, renamed or invalidated the session.
		stale := !takenOver && m.backupOn() && d.backedUp && now.Sub(d.lastSync) >= min(touchInterval(d.maxInactive), 30*time.Minute)
		if !takenOver && !stale {
			d.lastAccessed = now
			d.mu.Unlock()
			return d, nil
		}
		d.mu.Unlock()
		if stale {
			return m.revalidate(d, now), nil
		}
		if fresh, err := m.loadShared(id); err != nil {
			return d, nil // memcached unreachable: our copy is all there is
		} else if fresh == nil {
			m.store.remove(d.base, d)
			return nil, nil
		} else {
			return fresh, nil
		}
	}
	if !m.backupOn() {
		return nil, nil
	}
	return m.loadShared(id)
}

// revalidate checks a local copy against memcached with one gat, which
// also refreshes the TTL (it replaces the touch that was due): a tombstone
// means the session was invalidated or renamed elsewhere; a higher version
// means another instance saved it since, and its copy replaces ours.
func (m *Manager) revalidate(d *sessionData, now time.Time) *sessionData {
	d.mu.Lock()
	n, key, version, ttl := m.nodeOf(d), m.keyOf(d), d.version, expiration(d.maxInactive, now)
	id := sessionID{base: d.base, node: d.node}
	d.mu.Unlock()
	var item *memcache.Item
	err := errNodeDown
	if n != nil {
		err = m.do(n, opGet, func(c *memcache.Client) error {
			var err error
			item, err = c.GetAndTouch(key, ttl)
			return err
		})
	}
	switch {
	case err == nil && isTombstone(item.Value):
		m.expire(d)
		return nil
	case err == nil:
		if fresh := m.decode(id, n, item.Value); fresh != nil && fresh.version > version {
			m.stats.loaded.Add(1)
			return m.store.replace(fresh)
		}
	case errors.Is(err, memcache.ErrCacheMiss):
		d.mu.Lock()
		d.backedUp = false // gone from memcached: send it again
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.lastAccessed = now
	if err == nil {
		d.lastSync = now
	}
	d.mu.Unlock()
	return d
}

// loadShared loads id from memcached into local memory, once for all the
// concurrent requests that want it, and remembers misses for a second.
// Both key on the memcached key (base and node), never on the base alone:
// a miss of base-n2 says nothing about base-n1.
func (m *Manager) loadShared(id sessionID) (*sessionData, error) {
	n := m.nodeFor(id)
	if n == nil {
		return nil, nil
	}
	key := keyFor(m.cfg.KeyPrefix, id.base, id.node)
	if m.negative.has(key, time.Now()) {
		return nil, nil
	}
	v, err, _ := m.loads.Do(key, func() (any, error) {
		d, err := m.load(id, n, key)
		if errors.Is(err, errSessionGone) {
			d, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		if d == nil {
			m.stats.loadMisses.Add(1)
			m.negative.add(key, time.Now())
			return nil, nil
		}
		// The loaded copy replaces a stale local one (route take-over).
		m.stats.loaded.Add(1)
		return m.store.replace(d), nil
	})
	if err != nil || v == nil {
		return nil, err
	}
	return v.(*sessionData), nil
}

// nodeFor returns the configured node an incoming id names, nil (counted
// as an invalid id) when no such node is configured.
func (m *Manager) nodeFor(id sessionID) *node {
	n := m.nodes.Load().byID[id.node]
	if n == nil {
		m.stats.invalidIDs.Add(1)
		m.stats.unknownNode.Add(1)
	}
	return n
}

// expire removes an idle session found on lookup before the sweeper did.
func (m *Manager) expire(d *sessionData) {
	d.mu.Lock()
	wasRemoved := d.removed
	d.removed = true
	d.mu.Unlock()
	m.store.remove(d.base, d)
	if !wasRemoved {
		m.stats.expired.Add(1)
	}
}

// finish ends a request that returned normally: save, then the cookie if
// the handler wrote no byte (net/http sends the headers after we return).
func (m *Manager) finish(s *Session, rw *responseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.release()
	if !s.resolved || s.ignored {
		return // the handler never used its session
	}
	if s.d != nil || s.dropped {
		m.stats.requestsWithSession.Add(1)
	}
	if m.ns != nil {
		if !s.sent {
			// Save before the headers go out, so a save that fails can
			// still turn the answer into a 503.
			rw.headersDueLocked()
		}
		m.nsFinish(s)
	} else {
		s.checkWatched()
		m.save(s)
	}
	if !s.sent {
		rw.headersDueLocked()
	} else if s.d != nil && !m.isCurrentID(s, rw.sentID) {
		m.stats.lateCookies.Add(1)
		m.logOnce("session changed after the response started: its cookie is sent with the next response")
	}
}

// abandon ends a request whose handler panicked. Its changes are not saved:
// the local copy is dropped, so the next request reloads the last backup
// rather than keep a half-done change. A session created by the request is
// forgotten.
func (m *Manager) abandon(s *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.release()
	if m.ns != nil {
		// Nothing was saved after the panic; drop the shared object so the
		// next request loads the last saved state, and free the locks.
		if s.ns != nil && s.ns.act != nil {
			m.ns.mu.Lock()
			s.ns.act.d = nil
			m.ns.mu.Unlock()
		}
		m.unlock(s)
		return
	}
	d := s.d
	if d == nil {
		return
	}
	if s.isNew || m.backupOn() {
		// Let the backups queued by earlier requests land first, or the
		// reload would miss them (and its next save overwrite them).
		m.backup.submit(&backupJob{kind: jobFlush, d: d}, true, 2*m.cfg.OperationTimeout)
		m.store.remove(d.base, d)
	}
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

// responseWriter adds the session cookie before the first byte goes out.
type responseWriter struct {
	http.ResponseWriter
	s      *Session
	sentID string // the id whose cookie went out ("" if none)
	// failed is the error whose 503 replaced the response (fail); set
	// under s.mu before sent, read after it.
	failed error
}

// writeCookieLocked sets or expires the cookie when the session's id is not
// what the client sent. Called with s.mu held.
func (rw *responseWriter) writeCookieLocked() {
	if rw.s.sent {
		return
	}
	rw.s.sent = true
	m := rw.s.m
	if !rw.s.resolved || rw.s.ignored {
		rw.sentID = rw.s.incoming
		return
	}
	if m.ns != nil {
		// Read-your-writes, and no 2xx for a change that is not stored:
		// the session is in memcached before the client can see the
		// response (and the save may move it: new id).
		if err := m.nsSave(rw.s); err != nil {
			rw.s.failErr = publicSaveError(err) // headersDueLocked answers 503
		}
	}
	if rw.s.err != nil || rw.s.failErr != nil {
		// The session could not be loaded or saved: whatever the client
		// holds stays as it is (fail answers the request).
		rw.sentID = rw.s.incoming
		return
	}
	if m.isCurrentID(rw.s, rw.s.incoming) && !(rw.s.incoming == "" && rw.s.dropped) {
		rw.sentID = rw.s.incoming
		return // the client has the right id: the common case, no allocation
	}
	id := m.currentID(rw.s)
	rw.sentID = id
	h := rw.ResponseWriter.Header()
	// A response that hands out a session id must not be stored by a shared
	// cache and replayed to others, whatever the handler set.
	privateCacheControl(h)
	if m.cfg.Header != "" {
		h.Set(m.cfg.Header, id)
		h.Add("Vary", m.cfg.Header)
		return
	}
	cc := m.cfg.Cookie
	secure := cc.Secure || rw.s.r.TLS != nil || m.cfg.TrustForwardedProto && forwardedHTTPS(rw.s.r.Header)
	c := &http.Cookie{
		Name: cc.Name, Value: id, Path: cc.Path, Domain: cc.Domain,
		Secure: secure, HttpOnly: true, SameSite: cc.SameSite, Partitioned: cc.Partitioned,
	}
	switch {
	case id == "":
		c.MaxAge = -1 // invalidated: expire it
	case cc.Persist && rw.s.d != nil:
		rw.s.d.mu.Lock()
		if mi := rw.s.d.maxInactive; mi > 0 {
			c.MaxAge = int(mi / time.Second)
		}
		rw.s.d.mu.Unlock()
	}
	h.Add("Set-Cookie", c.String())
	h.Add("Vary", "Cookie")
}

// privateCacheControl makes a response that sets the session cookie (or
// id header) uncacheable by shared caches: it adds "private" unless the
// handler said "no-store", drops what addresses shared caches ("public",
// "s-maxage", a "private" limited to some fields) and keeps the rest (a
// max-age for the browser, no-cache, ...). CDN-Cache-Control and
// Surrogate-Control, which CDNs obey instead of Cache-Control, are removed.
func privateCacheControl(h http.Header) {
	h.Del("CDN-Cache-Control")
	h.Del("Surrogate-Control")
	vals := h.Values("Cache-Control")
	if len(vals) == 0 {
		h.Set("Cache-Control", "private") // the common case
		return
	}
	out := []string{"private"}
	for _, v := range vals {
		for _, d := range splitDirectives(v) {
			name, _, _ := strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "public", "s-maxage":
				continue
			case "private":
				// out starts with a bare one; private="Set-Cookie" would let
				// shared caches keep the rest.
				continue
			case "no-store":
				out[0] = "" // no cache stores it: "private" adds nothing
			}
			out = append(out, d)
		}
	}
	if out[0] == "" {
		out = out[1:]
	}
	h.Set("Cache-Control", strings.Join(out, ", "))
}

// splitDirectives splits a Cache-Control value at the commas that are not
// inside a quoted string, trimming each directive; empty ones are dropped.
func splitDirectives(v string) []string {
	var ds []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			if d := strings.TrimSpace(v[start:i]); d != "" {
				ds = append(ds, d)
			}
			start = i + 1
		}
	}
	if d := strings.TrimSpace(v[start:]); d != "" {
		ds = append(ds, d)
	}
	return ds
}

// forwardedHTTPS reports whether the X-Forwarded-Proto header says the
// client's request came over HTTPS. With several values (one per proxy),
// the first is the client's.
func forwardedHTTPS(h http.Header) bool {
	v := h.Get("X-Forwarded-Proto")
	first, _, _ := strings.Cut(v, ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}

// beforeWrite runs before the handler's first header or byte goes out. It
// returns the error that replaced the response by a 503 (see fail), nil
// when the handler's output goes through.
func (rw *responseWriter) beforeWrite() error {
	if rw.s.sent {
		return rw.failed // the common case after the first write: no lock
	}
	rw.s.mu.Lock()
	defer rw.s.mu.Unlock()
	rw.headersDueLocked()
	return rw.failed
}

// headersDueLocked does what must happen before the headers go out: the
// cookie, or the 503 of a request that failed. Called with s.mu held.
func (rw *responseWriter) headersDueLocked() {
	rw.writeCookieLocked()
	if rw.s.failErr != nil && rw.failed == nil {
		rw.fail(rw.s.failErr)
	}
}

// fail answers the request with a 503 whose body is err's text, in place
// of what the handler meant to send: a request whose session could not be
// loaded (ErrUnavailable) or saved must not pass for a success. The
// handler's status and body are dropped (its writes return err), and so
// are its headers that describe its own content. err's text goes to the
// client: make it a sentinel, never an error that wraps a cause (node
// addresses). Called once, before the headers went out.
func (rw *responseWriter) fail(err error) {
	rw.failed = err
	h := rw.ResponseWriter.Header()
	for _, k := range []string{"Location", "Etag", "Last-Modified", "Content-Disposition", "Content-Encoding"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Retry-After", "1")
	http.Error(rw.ResponseWriter, err.Error(), http.StatusServiceUnavailable)
}

// WriteHeader sends the cookie, then the status.
func (rw *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.ResponseWriter.WriteHeader(code) // informational: headers still to come
		return
	}
	if rw.beforeWrite() != nil {
		return
	}
	rw.ResponseWriter.WriteHeader(code)
}

// Write sends the cookie, then b.
func (rw *responseWriter) Write(b []byte) (int, error) {
	if err := rw.beforeWrite(); err != nil {
		return 0, err
	}
	return rw.ResponseWriter.Write(b)
}

// ReadFrom keeps io.Copy's sendfile path of the wrapped writer.
func (rw *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if err := rw.beforeWrite(); err != nil {
		return 0, err
	}
	if rf, ok := rw.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(rw.ResponseWriter, src)
}

// Flush sends the cookie with the headers, then flushes.
func (rw *responseWriter) Flush() { rw.FlushError() }

// FlushError is Flush that reports whether the wrapped writer could flush
// (http.ResponseController uses it).
func (rw *responseWriter) FlushError() error {
	rw.beforeWrite()
	return http.NewResponseController(rw.ResponseWriter).Flush()
}

// Hijack hands the connection over (websockets); the cookie cannot follow.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	rw.s.mu.Lock()
	rw.s.sent = true
	rw.s.mu.Unlock()
	if h, ok := rw.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.ErrUnsupported
}

// Unwrap gives http.ResponseController the wrapped writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
