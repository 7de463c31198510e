package core

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
)

// Middleware returns net/http middleware that gives every request a
// session (FromContext). This is the whole request cycle; what differs
// between sticky and non-sticky mode is behind m.mode (mode.go):
//
//  1. an ignored path passes through with an inert session;
//  2. the mode may look the session up before the handler runs
//     (beforeHandler): non-sticky mode takes the lock of a request that
//     carries an id and loads its session, and a failure there is a 503
//     before the handler runs. Otherwise the session is looked up when the
//     handler first uses it (resolve): the id is validated, then the mode
//     finds it (sticky.go: local memory, then memcached);
//  3. the handler runs; a new session comes to exist only when it writes;
//  4. before the first byte of the response (headersDueLocked): the mode's
//     work (non-sticky mode saves the session: read-your-writes), then the
//     cookie if the id is not what the client sent (cookie.go), or the 503
//     of a request that could not load or save its session (fail);
//  5. after the handler (finish): the mode saves (sticky: backs a changed
//     session up, refreshes an unchanged one's TTL; non-sticky: saves what
//     changed since the first byte, frees its locks). A handler that
//     panicked saves nothing (abandon).
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.Serve(w, r, next) })
}

// Serve runs next for r with its session: the request cycle described at
// Middleware, which is Serve with a fixed next. It is for adapters whose
// next handler differs per request (gin's c.Next, echo's next(c)): they
// need not build a Middleware, a handler and a closure for every request.
func (m *Manager) Serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	m.stats.requests.Add(1)
	if m.cfg.ignore != nil && m.cfg.ignore.MatchString(r.URL.Path) {
		m.stats.ignored.Add(1)
		// FromContext is never nil inside the middleware: an ignored
		// request gets an inert session that stores nothing.
		q := &request{s: Session{m: m, r: r, lookup: lookupIgnored}}
		next.ServeHTTP(w, q.withSession(r))
		return
	}
	q := &request{s: Session{m: m, r: r, incoming: m.incomingID(r)}}
	s, rw := &q.s, &q.rw
	rw.ResponseWriter, rw.s = w, s
	if err := m.mode.beforeHandler(s); err != nil {
		s.mu.Lock()
		rw.fail(err)
		s.mu.Unlock()
		return
	}
	panicked := true
	defer func() {
		if panicked {
			m.abandon(s)
		}
	}()
	next.ServeHTTP(rw, q.withSession(r))
	panicked = false
	m.finish(s, rw)
}

// resolve looks the request's session up (step 2 of the cycle): it checks
// what both modes share, then lets the mode find the session the client
// named. It ends the lookup (s.lookup is no longer pending). Called with
// s.mu held.
func (m *Manager) resolve(s *Session) {
	if m.cfg.ignore != nil && m.cfg.RoutePattern != nil {
		if p := m.cfg.RoutePattern(s.r); p != "" && m.cfg.ignore.MatchString(p) {
			s.lookupIgnore()
			m.stats.ignored.Add(1)
			return
		}
	}
	if s.incoming == "" {
		s.lookedUp()
		return
	}
	m.mode.resolve(s)
	if s.lookup == lookupPending {
		s.illegalMove("lookup", lookupPending, "(the mode's resolve left it pending)")
		s.lookedUp()
	}
	m.checkPrincipal(s) // principal.go: ended on another instance?
}

// finish ends a request that returned normally: the mode saves, then the
// cookie goes out if the handler wrote no byte (net/http sends the headers
// after we return).
func (m *Manager) finish(s *Session, rw *responseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.release()
	if s.lookup == lookupPending || s.lookup == lookupIgnored {
		return // the handler never used its session
	}
	if s.d != nil || s.life == lifeInvalidated {
		m.stats.requestsWithSession.Add(1)
	}
	m.mode.finish(s, rw)
	if !s.replyStarted() {
		rw.headersDueLocked()
	} else if s.d != nil && !m.isCurrentID(s, rw.sentID) {
		m.stats.lateCookies.Add(1)
		m.logOnce("session changed after the response started: its cookie is sent with the next response")
	}
}

// abandon ends a request whose handler panicked. Its changes are not saved
// (see the modes' abandon).
func (m *Manager) abandon(s *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.release()
	m.mode.abandon(s)
}

// responseWriter adds the session cookie before the first byte goes out.
type responseWriter struct {
	http.ResponseWriter
	s      *Session
	sentID string // the id whose cookie went out ("" if none)
	// failed is the error whose 503 replaced the response (fail); set
	// under s.mu as the reply moves to failed, read once it has.
	failed error
}

// beforeWrite runs before the handler's first header or byte goes out. It
// returns the error that replaced the response by a 503 (see fail), nil
// when the handler's output goes through.
func (rw *responseWriter) beforeWrite() error {
	if rw.s.replyStarted() {
		return rw.failed // the common case after the first write: no lock
	}
	rw.s.mu.Lock()
	defer rw.s.mu.Unlock()
	rw.headersDueLocked()
	return rw.failed
}

// headersDueLocked does what must happen before the headers go out, once:
// the mode's work (non-sticky mode saves the session), then the cookie;
// and the 503 of a request that could not load or save its session.
// It moves the reply out of pending: to sent, or to failed. Called with
// s.mu held.
func (rw *responseWriter) headersDueLocked() {
	s := rw.s
	if s.replyStarted() {
		return
	}
	if s.lookup == lookupDone {
		s.m.mode.beforeFirstByte(s)
	}
	rw.writeCookieLocked()
	if s.failErr != nil {
		rw.fail(s.failErr)
		return
	}
	s.replyEnd(replySent)
}

// fail answers the request with a 503 whose body is err's text, in place
// of what the handler meant to send: a request whose session could not be
// loaded (ErrUnavailable) or saved must not pass for a success. The
// handler's status and body are dropped (its writes return err), and so
// are its headers that describe its own content. err's text goes to the
// client: make it a sentinel, never an error that wraps a cause (node
// addresses). It moves the reply from pending to failed. Called with s.mu
// held.
func (rw *responseWriter) fail(err error) {
	rw.s.replyEnd(replyFailed)
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
	if !rw.s.replyStarted() {
		rw.s.replyEnd(replyHijacked)
	}
	rw.s.mu.Unlock()
	if h, ok := rw.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.ErrUnsupported
}

// Unwrap gives http.ResponseController the wrapped writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
