package promstats_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/promstats"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func ExampleNewCollector() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(promstats.NewCollector(m))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) // mount on /metrics

	app := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		core.FromContext(r.Context()).Set("user", "ann")
	}))
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	rec := httptest.NewRecorder()
	metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "gomsm_requests_total") ||
			strings.HasPrefix(line, `gomsm_sessions_total{event="created"}`) {
			fmt.Println(line)
		}
	}
	// Output:
	// gomsm_requests_total{kind="all"} 1
	// gomsm_requests_total{kind="ignored"} 0
	// gomsm_requests_total{kind="with_session"} 1
	// gomsm_sessions_total{event="created"} 1
}
