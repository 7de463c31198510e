// Package conformance is the behaviour every gomsm middleware must show,
// whatever web framework it adapts: one suite that the net/http middleware
// and each adapter (ginmsm, echomsm, chimsm, ...) run in their tests, against
// real memcached processes started with msmtest.
//
// An adapter's test calls [Run] with a function that builds one server of
// its framework around a Manager the suite made:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T, m *core.Manager, routes conformance.Routes) http.Handler {
//			r := gin.New()
//			r.Use(gin.Recovery(), ginmsm.Middleware(m))
//			for path, h := range routes {
//				r.GET(path, func(c *gin.Context) { h(ginmsm.Session(c), c.Writer, c.Request) })
//			}
//			return r
//		})
//	}
//
// The suite owns the Managers, the memcached nodes and the routes; the
// adapter owns the translation: its middleware, its accessor (each route's
// native handler must get its session through it, so the suite proves the
// accessor works) and the framework's writer and request, so the suite
// proves the cookie goes out before the first byte however the framework
// wraps the response.
//
// The scenarios (each a subtest) are: a session is created on write only;
// read; modify; an in-place change of a value read with Get is detected;
// RenewID keeps the data and kills the old id; Invalidate; the cookie is
// sent when the handler writes its body without WriteHeader; a streaming
// handler that flushes; a panicking handler leaves no half-saved session;
// ignored paths are left untouched; an instance fails over to another
// server of the same framework; flash messages reach the next request on
// another server once; SetPersist's Max-Age follows the session to another
// server; InvalidatePrincipal logs a user out on every server
// (features.go). Each runs in sticky mode and again in
// non-sticky mode, where the locking scenarios have their own place
// (nonStickyScenarios in scenarios.go).
package conformance
