// Package echomsm makes gomsm sessions native in echo: [Middleware] is an
// echo.MiddlewareFunc that runs core's session middleware around the rest
// of the chain, and [Session] returns the request's session from an
// echo.Context.
//
//	m, err := core.New(core.Config{Nodes: "n1:10.0.0.1:11211,n2:10.0.0.2:11211"})
//	if err != nil { ... }
//	defer m.Close()
//	e := echo.New()
//	e.Use(middleware.Recover(), echomsm.Middleware(m))
//	e.GET("/visit", func(c echo.Context) error {
//		s := echomsm.Session(c)
//		n := s.GetInt("visits") + 1
//		s.Set("visits", n)
//		return c.String(http.StatusOK, fmt.Sprintf("visit %d", n))
//	})
//
// The package holds no session logic: the session cycle, the cookie and the
// backups are core's. It only lets core's middleware see echo's request and
// write under echo's own *echo.Response (its Writer is core's response
// writer during the handler), so the cookie goes out before the first byte
// however the handler writes, and echo's Before and After hooks, Status,
// Size and Committed work as without sessions.
//
// A handler that returns an error has its session saved like any other:
// the error is a response, and echo's HTTPErrorHandler writes it after the
// middleware, with the session cookie already in its headers.
//
// Register middleware.Recover (or your own recovery) before the session
// middleware: a panic in a handler then goes through core first, which
// drops the request's unsaved changes, and reaches the recovery as before.
package echomsm
