// Package ginmsm makes gomsm sessions native in gin: [Middleware] is a
// gin.HandlerFunc that runs core's session middleware around the rest of
// the chain, and [Session] returns the request's session from a
// *gin.Context.
//
//	m, err := core.New(core.Config{Nodes: "n1:10.0.0.1:11211,n2:10.0.0.2:11211"})
//	if err != nil { ... }
//	defer m.Close()
//	r := gin.New()
//	r.Use(gin.Recovery(), ginmsm.Middleware(m))
//	r.GET("/visit", func(c *gin.Context) {
//		s := ginmsm.Session(c)
//		n := s.GetInt("visits") + 1
//		s.Set("visits", n)
//		c.String(http.StatusOK, "visit %d", n)
//	})
//
// The package holds no session logic: the session cycle, the cookie and the
// backups are core's. It only lets core's middleware see gin's request and
// response, so the cookie goes out before the first byte whichever way the
// handler writes (c.String, c.JSON, c.Stream, c.Writer).
//
// Register gin.Recovery (or your own recovery) before the session
// middleware: a panic in a handler then goes through core first, which
// drops the request's unsaved changes, and reaches the recovery as before.
package ginmsm
