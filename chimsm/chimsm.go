package chimsm

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/gomsm/msm/core"
)

// Middleware returns m's session middleware, for chi's Use, With, Group
// and Route. It is m.Middleware: chi middleware is net/http middleware.
func Middleware(m *core.Manager) func(http.Handler) http.Handler {
	return m.Middleware
}

// Session returns the session of the request, nil when [Middleware] (or
// core's middleware) did not run for it. It is core.FromContext of the
// request's context.
func Session(r *http.Request) *core.Session {
	return core.FromContext(r.Context())
}

// RoutePattern returns the pattern of the chi route that serves r, such as
// "/users/{id}" or "/api/v1/items/{id}" across mounted sub-routers, and ""
// when r is not routed by chi. Set it as core.Config.RoutePattern so that
// IgnorePattern and uriPattern locking match chi's route patterns as well
// as the raw path.
func RoutePattern(r *http.Request) string {
	return chi.RouteContext(r.Context()).RoutePattern()
}
