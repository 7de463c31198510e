package conformance_test

import (
	"net/http"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest/conformance"
)

// TestNetHTTP runs the suite on core's own middleware around a ServeMux.
// net/http has no recovery of its own: the suite's wrapper answers 500.
func TestNetHTTP(t *testing.T) {
	conformance.Run(t, func(t *testing.T, m *core.Manager, routes conformance.Routes) http.Handler {
		mux := http.NewServeMux()
		for path, h := range routes {
			mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
				h(core.FromContext(r.Context()), w, r)
			})
		}
		return m.Middleware(mux)
	})
}
