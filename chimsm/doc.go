// Package chimsm makes gomsm sessions native in chi: [Middleware] is the
// func(http.Handler) http.Handler that chi's Use takes, [Session] returns
// the request's session, and [RoutePattern] lets core match IgnorePattern
// and uriPattern locking against chi's route patterns ("/users/{id}") as
// well as the raw path.
//
//	m, err := core.New(core.Config{
//		Nodes:         "n1:10.0.0.1:11211,n2:10.0.0.2:11211",
//		IgnorePattern: `^/static/`,
//		RoutePattern:  chimsm.RoutePattern,
//	})
//	if err != nil { ... }
//	defer m.Close()
//	r := chi.NewRouter()
//	r.Use(middleware.Recoverer, chimsm.Middleware(m))
//	r.Get("/visit", func(w http.ResponseWriter, r *http.Request) {
//		s := chimsm.Session(r)
//		n := s.GetInt("visits") + 1
//		s.Set("visits", n)
//		fmt.Fprintf(w, "visit %d\n", n)
//	})
//
// The package holds no session logic: chi speaks net/http, so core's
// middleware is used as it is.
//
// Mount the middleware with the router's Use (or With, Group, Route), not
// around the router: core evaluates RoutePattern when the handler first
// uses its session, after chi has routed the request, which works only if
// the request the middleware saw carries chi's routing context. Register
// middleware.Recoverer (or your own recovery) before the session
// middleware: a panic in a handler then goes through core first, which
// drops the request's unsaved changes, and reaches the recovery as before.
package chimsm
