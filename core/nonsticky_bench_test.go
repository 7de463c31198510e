package core_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// BenchmarkNonSticky measures a non-sticky request through the Middleware
// (no HTTP server: httptest.NewRecorder) against real memcached, per locking
// mode, read-only and modifying, and reports memcached operations per
// request (mcops/op, from memcached's own stats). docs/performance.md
// quotes it:
//
//	go test -run '^$' -bench BenchmarkNonSticky -benchmem ./core/
func BenchmarkNonSticky(b *testing.B) {
	mcs := msmtest.StartN(b, 2)
	for _, mode := range []string{core.LockNone, core.LockAuto, core.LockAll} {
		for _, write := range []bool{false, true} {
			name := mode + "/read"
			if write {
				name = mode + "/modify"
			}
			b.Run(name, func(b *testing.B) {
				m, err := core.New(core.Config{Nodes: nodesOf(mcs...), NonSticky: true, LockingMode: mode})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				i := 0
				h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					s := core.FromContext(r.Context())
					if write || s.ID() == "" {
						i++
						s.Set("n", i)
						s.Set("name", "ann")
					} else {
						s.GetString("name")
					}
				}))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/page", nil))
				cookie := rec.Result().Cookies()[0]
				run := func() {
					req := httptest.NewRequest("GET", "/page", nil)
					req.AddCookie(cookie)
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
				for range 10 { // warm up: auto mode learns /page
					run()
				}
				before := mcOps(mcs)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					run()
				}
				b.StopTimer()
				m.Close() // flush the async backup copies, so they are counted
				b.ReportMetric(float64(mcOps(mcs)-before)/float64(b.N), "mcops/op")
			})
		}
	}
}

// mcOps sums the operations memcached counted on every node.
func mcOps(mcs []*msmtest.Server) uint64 {
	var n uint64
	for _, s := range mcs {
		c := s.Counters()
		n += c.Get + c.Set + c.Touch + c.Delete
	}
	return n
}
