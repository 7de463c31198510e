// Package core is gomsm's framework-neutral session manager: HTTP sessions
// live in the local memory of the instance that serves them and are backed
// up to memcached, so another instance can take a session over when the
// first one is gone, and a session moves to another memcached node when
// its node dies.
//
// A Manager is configured by a Config whose zero value is a sensible,
// local-only setup; set Config.Nodes to back sessions up:
//
//	m, err := core.New(core.Config{Nodes: "n1:10.0.0.1:11211,n2:10.0.0.2:11211"})
//	if err != nil { ... }
//	defer m.Close()
//	http.ListenAndServe(":8080", m.Middleware(mux))
//
// and a handler reads its session with FromContext:
//
//	s := core.FromContext(r.Context())
//	s.Set("user", u)
//	cart, err := core.GetAs[Cart](s, "cart")
//
// A session that memcached could not deliver (a timeout, a node down) is
// not "no session": Session.Err reports ErrUnavailable, the client's
// cookie is left alone, and a write answers the request with a 503.
//
// Where things are: middleware.go holds the request cycle from top to
// bottom (a request's session is found, handed to the handler, saved);
// session.go the Session API and change tracking; backup.go what goes to
// memcached and comes back; nodes.go node health and selection; refill.go
// the refill of a node that came back empty; store.go the local memory; id.go session ids and memcached keys; stats.go the
// counters; config.go the configuration and its defaults.
package core
