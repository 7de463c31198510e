package echomsm

import (
	"net/http"

	"github.com/gomsm/msm/core"
	"github.com/labstack/echo/v4"
)

// Middleware returns echo middleware that gives every request a session,
// read with [Session]. It runs m's net/http middleware around the rest of
// the chain, with c.Request() carrying the session and c.Response()
// writing through core's response writer, so that the session cookie is
// set before the response's first byte. A panic further down the chain
// propagates to echo's recovery, after core has dropped the session's
// unsaved changes; an error returned by the chain is returned as is.
func Middleware(m *core.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			res := c.Response()
			h := &hop{c: c, next: next, res: res, orig: res.Writer}
			m.Serve(h.orig, c.Request(), h)
			return h.err
		}
	}
}

// hop is the rest of echo's chain as the next handler of core's request
// cycle, in one allocation per request.
type hop struct {
	c    echo.Context
	next echo.HandlerFunc
	res  *echo.Response
	orig http.ResponseWriter
	err  error // what next returned
}

// ServeHTTP runs next with the request carrying the session and the
// response writing through w, core's writer.
func (h *hop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.c.SetRequest(r)
	h.res.Writer = w
	// The error handler and a recovery further up write through the
	// original writer, never through core's.
	defer func() { h.res.Writer = h.orig }()
	h.err = h.next(h.c)
}

// Session returns the session of the request, nil when [Middleware] (or
// core's middleware) did not run for it. It is core.FromContext of the
// request's context.
func Session(c echo.Context) *core.Session {
	return core.FromContext(c.Request().Context())
}
