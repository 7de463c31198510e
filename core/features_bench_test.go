package core_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// BenchmarkStickyReadOnlyFeatures is BenchmarkStickyReadOnly for a
// session that is persistent (SetPersist: the Max-Age renewal is due once
// per MaxInactive/4) or has a principal (checked against its index once
// per PrincipalCheckInterval): what those cost a read-only request. It
// reports the memcached round trips per request (principal checks).
func BenchmarkStickyReadOnlyFeatures(b *testing.B) {
	for _, bc := range []struct {
		name  string
		setup func(s *core.Session)
	}{
		{"plain", func(*core.Session) {}},
		{"persist", func(s *core.Session) { s.SetPersist(true) }},
		{"principal", func(s *core.Session) { s.SetPrincipal("ann") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			mc := msmtest.Start(b)
			m, err := core.New(core.Config{Nodes: "n1:" + mc.Addr(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close() })
			rec := httptest.NewRecorder()
			m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := core.FromContext(r.Context())
				s.Set("name", "ann")
				bc.setup(s)
			})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			h := m.Middleware(benchHandler)
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(rec.Result().Cookies()[0])
			before := m.Stats().PrincipalChecks
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Body.Len() != 3 {
					b.Fatalf("body %q", rec.Body)
				}
			}
			b.ReportMetric(float64(m.Stats().PrincipalChecks-before)/float64(b.N), "checks/op")
		})
	}
}
