package ginmsm

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
)

// Middleware returns gin middleware that gives every request a session,
// read with [Session]. It runs m's net/http middleware around the rest of
// the chain (c.Next), with c.Request carrying the session and c.Writer
// writing through core's response writer, so that the session cookie is
// set before the response's first byte. A panic further down the chain
// propagates to gin's recovery, after core has dropped the session's
// unsaved changes.
func Middleware(m *core.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := &hop{c: c, orig: c.Writer}
		m.Serve(h.orig, c.Request, h)
	}
}

// hop is the rest of gin's chain as the next handler of core's request
// cycle, with the writer it installs, in one allocation per request.
type hop struct {
	c    *gin.Context
	orig gin.ResponseWriter
	rw   responseWriter
}

// ServeHTTP runs the rest of the chain with c.Request carrying the session
// and c.Writer writing through w, core's writer.
func (h *hop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.c.Request = r
	h.rw = responseWriter{ResponseWriter: h.orig, w: w}
	h.c.Writer = &h.rw
	// A recovery further up writes its error page through gin's own
	// writer, never through core's.
	defer func() { h.c.Writer = h.orig }()
	h.c.Next()
}

// Session returns the session of the request, nil when [Middleware] (or
// core's middleware) did not run for it. It is core.FromContext of the
// request's context.
func Session(c *gin.Context) *core.Session {
	return core.FromContext(c.Request.Context())
}

// responseWriter is a gin.ResponseWriter that keeps gin's bookkeeping
// (status, size, Written) in gin's writer and sends every byte through w,
// core's writer around it, which adds the cookie first. WriteHeader is
// gin's: it records the status, which goes out with the first byte,
// WriteHeaderNow or Flush.
type responseWriter struct {
	gin.ResponseWriter // gin's own writer; w wraps it
	w                  http.ResponseWriter
}

// WriteHeaderNow sends the cookie, then the headers.
func (rw *responseWriter) WriteHeaderNow() {
	if !rw.Written() {
		rw.w.WriteHeader(rw.Status())
		rw.ResponseWriter.WriteHeaderNow()
	}
}

// Write sends the cookie, then data.
func (rw *responseWriter) Write(data []byte) (int, error) { return rw.w.Write(data) }

// WriteString sends the cookie, then s.
func (rw *responseWriter) WriteString(s string) (int, error) { return io.WriteString(rw.w, s) }

// Flush sends the cookie with the headers, then flushes.
func (rw *responseWriter) Flush() {
	// w is core's writer (or gin's own on an ignored path): both flush.
	http.NewResponseController(rw.w).Flush()
}

// Hijack hands the connection over through core's writer.
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(rw.w).Hijack()
}

// Unwrap gives http.ResponseController core's writer.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }
