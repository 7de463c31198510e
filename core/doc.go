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
//	srv := &http.Server{Addr: ":8080", Handler: m.Middleware(mux)}
//	go srv.ListenAndServe()
//	<-ctx.Done()                     // signal.NotifyContext(SIGINT, SIGTERM)
//	srv.Shutdown(context.Background()) // let requests finish
//	m.Close()                        // then flush the queued backups
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
// Where things are. The request cycle and the Manager:
//   - middleware.go: the request cycle from top to bottom (Middleware, and
//     Serve for adapters with a next handler per request; resolve, finish,
//     abandon) and the response writer (the 503 of fail);
//   - request.go: the one allocation of a request (its Session, response
//     writer and the context that carries the session);
//   - cookie.go: the id on the wire: read from the cookie or header,
//     written when it changed, with the cache headers that go with it
//     (internal/cachecontrol);
//   - mode.go: the seam between the cycle and the two modes (mode);
//   - manager.go: New (which picks the mode), Close, SetNodes, SetEnabled,
//     Invalidate; creating, dropping and renaming sessions; the sweeper;
//   - session.go: the Session API;
//   - track.go: a request's use of its session: lookup on first use,
//     writes refused while unavailable, change tracking;
//   - state.go: the state machines of a request's session (lookup,
//     life, reply, save) and the one method that makes each move;
//   - errors.go: the exported errors, Session.Err, and the wrapping
//     that names core once in their texts;
//   - data.go: the session as held in memory (sessionData), its
//     attributes, packing of idle sessions, which values are mutable;
//   - compact.go: the compact form of a session's attributes (one block
//     of encodings) that sessions of strings and loaded sessions live in;
//   - attrhash.go: the per-attribute hashes a save sums to tell whether
//     the session changed since its last copy.
//
// What applications build a login on:
//   - persist.go: remember-me (SetPersist) and the renewal of a
//     persistent cookie's Max-Age while the session is used;
//   - flash.go: flash messages (AddFlash, Flashes);
//   - principal.go: principals (SetPrincipal, SessionsOf,
//     InvalidatePrincipal, MaxSessionsPerPrincipal); principalcheck.go:
//     the check of a request's session against its principal's index and
//     a principal's sessions in local memory; pindex.go: the index item in
//     memcached (format, two nodes, gets + cas writes);
//   - events.go: lifecycle events (Config.OnEvent), their queue and
//     delivery goroutine;
//   - reserved.go: the reserved attributes these keep with a session.
//
// The two modes:
//   - sticky.go: sticky mode: lookup in local memory, take-over,
//     revalidation, shared loads; the backup at the end of the request;
//   - nonsticky.go: non-sticky mode: the shared active sessions and the
//     resolution of a request's session (nsResolve, nsJoin);
//   - nsload.go: non-sticky loads of both copies, promotion of the backup
//     copy, the memo of decodes (a copy read again unchanged is not
//     decoded again);
//   - nslock.go: non-sticky locking (LockingMode, local lock, lock items);
//   - nssave.go: non-sticky saves of both copies before the first byte.
//
// Mechanisms both modes use:
//   - backup.go: the save decision, the backup jobs (on
//     internal/writequeue), relocation;
//   - versioned.go: writes that only replace an older version;
//   - load.go: the read of one copy, where a session lives (nodeOf, keyOf);
//   - encode.go: a session to its stored bytes and back (with
//     internal/envelope: envelope, sealing, size bound, tombstone);
//   - nodes.go: Node, ParseNodes, the node set wired to the Manager's
//     configuration, counters and log; probe.go: the startup probe's log;
//   - refill.go: sticky mode's refill of a node that came back empty;
//   - id.go: session ids and memcached keys;
//   - config.go: the configuration (Config, CookieConfig) and its
//     defaults; configcheck.go: the defaults applied, every field checked
//     and its patterns compiled (compile);
//   - stats.go: the counters; admin.go and expvar.go: their publication.
//
// Mechanisms that need no Manager, in internal packages that import
// nothing of core:
//   - internal/nodes: the memcached node set: parsing, each node's client
//     and health, the choice of a node, the Do choke point and its counts,
//     a node's identity and the startup probe, and (fallback.go) the
//     fallbacks for servers and proxies without gat, touch or negative
//     expiries;
//   - internal/localstore: local memory (sharded LRU), the negative cache
//     (TTLSet), the versions seen (VersionMemo), the CAS ids read
//     (CASMemo), the decodes of stored bytes (DecodeMemo);
//   - internal/writequeue: the ordered per-session write queue;
//   - internal/mcdial: how a connection to memcached is opened (TLS,
//     memcached's login), used by every client and probe of the node set;
//   - internal/envelope: a session's stored bytes;
//   - internal/cachecontrol: responses that carry an id stay private.
package core
