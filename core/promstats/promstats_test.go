package promstats_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
	"github.com/gomsm/msm/core/promstats"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// app runs a Manager behind an HTTP server with a handler that sets the
// query's key=value pairs in the session.
type app struct {
	m   *core.Manager
	srv *httptest.Server
}

func startApp(t testing.TB, cfg core.Config) *app {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	// Healthy nodes get seconds, so a busy machine never makes one look
	// dead or a sync backup look timed out; the tests kill nodes to make
	// them dead.
	if cfg.OperationTimeout == 0 {
		cfg.OperationTimeout = 10 * time.Second
	}
	if cfg.BackupTimeout == 0 {
		cfg.BackupTimeout = 30 * time.Second
	}
	m, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		if s == nil { // an ignored path
			return
		}
		for k, v := range r.URL.Query() {
			s.Set(k, v[0])
		}
		fmt.Fprint(w, s.GetString("name"))
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		m.Close()
	})
	return &app{m: m, srv: srv}
}

// client is a browser with a cookie jar.
func client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func (a *app) get(t testing.TB, c *http.Client, path string) string {
	t.Helper()
	resp, err := c.Get(a.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sid returns the session id c holds for a.
func (a *app) sid(c *http.Client) string {
	req, _ := http.NewRequest("GET", a.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == core.DefaultCookieName {
			return ck.Value
		}
	}
	return ""
}

// value returns the value of the metric name whose labels include want
// (the sample count for a histogram or a summary), or -1 when there is none.
func value(t testing.TB, g prometheus.Gatherer, name string, want ...string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(want); i += 2 {
				if labels[want[i]] != want[i+1] {
					continue metrics
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			case dto.MetricType_SUMMARY:
				return float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return -1
}

// quantile returns quantile q of the summary name, or -1 when there is none.
func quantile(t testing.TB, g prometheus.Gatherer, name string, q float64) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name || len(f.GetMetric()) != 1 {
			continue
		}
		for _, qv := range f.GetMetric()[0].GetSummary().GetQuantile() {
			if qv.GetQuantile() == q {
				return qv.GetValue()
			}
		}
	}
	return -1
}

// expect checks metric values: name, label pairs, value.
type expect struct {
	name   string
	labels []string
	want   float64
}

func check(t testing.TB, g prometheus.Gatherer, step string, exps ...expect) {
	t.Helper()
	for _, e := range exps {
		if got := value(t, g, e.name, e.labels...); got != e.want {
			t.Errorf("%s: %s%v = %v, want %v", step, e.name, e.labels, got, e.want)
		}
	}
}

func TestCollectorFollowsRealTraffic(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	a := startApp(t, core.Config{
		Nodes:      "n1:" + mcs[0].Addr() + ",n2:" + mcs[1].Addr(),
		SyncBackup: true,
	})
	reg := prometheus.NewPedanticRegistry() // checks Collect against Describe
	reg.MustRegister(promstats.NewCollector(a.m))
	c := client(t)

	a.get(t, c, "/?name=ann")
	home := strings.TrimPrefix(a.sid(c)[32:], "-")
	other := map[string]string{"n1": "n2", "n2": "n1"}[home]
	check(t, reg, "create",
		expect{"gomsm_requests_total", []string{"kind", "all"}, 1},
		expect{"gomsm_requests_total", []string{"kind", "with_session"}, 1},
		expect{"gomsm_sessions_total", []string{"event", "created"}, 1},
		expect{"gomsm_local_sessions", nil, 1},
		expect{"gomsm_backups_total", []string{"result", "ok"}, 1},
		// A new session's first copy is an add (never replaces a copy).
		expect{"gomsm_memcached_ops_total", []string{"node", home, "op", "add", "result", "ok"}, 1},
		expect{"gomsm_node_up", []string{"node", "n1"}, 1},
		expect{"gomsm_node_up", []string{"node", "n2"}, 1},
		expect{"gomsm_node_info", []string{"node", "n1", "addr", mcs[0].Addr(), "failover", "false"}, 1},
		expect{"gomsm_memcached_enabled", nil, 1},
		expect{"gomsm_backup_duration_seconds", nil, 1},
		expect{"gomsm_session_encoded_bytes", nil, 1},
		expect{"gomsm_load_duration_seconds", nil, 0},
		expect{"gomsm_backup_queue_delay_seconds", nil, 1},
	)
	if p50, p99 := quantile(t, reg, "gomsm_backup_queue_delay_lifetime_seconds", 0.5),
		quantile(t, reg, "gomsm_backup_queue_delay_lifetime_seconds", 0.99); p50 <= 0 || p99 < p50 {
		t.Errorf("backup queue delay summary: p50 %v p99 %v, want 0 < p50 <= p99", p50, p99)
	}

	a.get(t, c, "/?name=ann") // equal value: not sent again
	check(t, reg, "unchanged",
		expect{"gomsm_backups_total", []string{"result", "unchanged"}, 1},
		expect{"gomsm_backups_total", []string{"result", "ok"}, 1},
	)

	mcs[map[string]int{"n1": 0, "n2": 1}[home]].Kill()
	a.get(t, c, "/?name=bob")
	check(t, reg, "node killed",
		expect{"gomsm_sessions_total", []string{"event", "relocated"}, 1},
		expect{"gomsm_backups_total", []string{"result", "ok"}, 2},
		// The versioned write's gets met the dead node twice: on the pooled
		// connection, then on a fresh one (a restarted node would answer it).
		expect{"gomsm_memcached_ops_total", []string{"node", home, "op", "gets", "result", "error"}, 2},
		expect{"gomsm_memcached_ops_total", []string{"node", other, "op", "add", "result", "ok"}, 1},
		expect{"gomsm_node_up", []string{"node", home}, 0},
		expect{"gomsm_node_up", []string{"node", other}, 1},
		expect{"gomsm_node_transitions_total", []string{"direction", "down"}, 1},
	)

	mcs[0].Kill()
	mcs[1].Kill()
	a.get(t, c, "/?name=cy")
	check(t, reg, "every node dead",
		expect{"gomsm_backups_total", []string{"result", "failed"}, 1},
		expect{"gomsm_node_up", []string{"node", other}, 0},
		expect{"gomsm_node_transitions_total", []string{"direction", "down"}, 2},
	)

	// The whole families, as the text format parses them.
	const want = `
# HELP gomsm_backups_total Session backups by result: ok, failed, unchanged (skipped: same attributes as in memcached), timed_out (sync backup over BackupTimeout), too_large (over MaxSessionBytes, not sent), dropped (superseded by a newer backup of the session), conflict (refused: memcached held a newer version, saved by another instance).
# TYPE gomsm_backups_total counter
gomsm_backups_total{result="conflict"} 0
gomsm_backups_total{result="dropped"} 0
gomsm_backups_total{result="failed"} 1
gomsm_backups_total{result="ok"} 2
gomsm_backups_total{result="timed_out"} 0
gomsm_backups_total{result="too_large"} 0
gomsm_backups_total{result="unchanged"} 1
# HELP gomsm_requests_total Requests through the session middleware by kind: "all" (every request; it includes the other kinds), "with_session" (had or created a session), "ignored" (matched IgnorePattern).
# TYPE gomsm_requests_total counter
gomsm_requests_total{kind="all"} 4
gomsm_requests_total{kind="ignored"} 0
gomsm_requests_total{kind="with_session"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gomsm_backups_total", "gomsm_requests_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestCollectorNamesAndLint(t *testing.T) {
	mc := msmtest.Start(t)
	a := startApp(t, core.Config{Nodes: "n1:" + mc.Addr(), SyncBackup: true, IgnorePattern: `^/static/`})
	col := promstats.NewCollector(a.m)
	c := client(t)
	a.get(t, c, "/?name=ann")
	a.get(t, c, "/static/x.css")

	for name, n := range map[string]int{
		"gomsm_requests_total": 3, "gomsm_invalid_ids_total": 1, "gomsm_sessions_total": 12,
		"gomsm_local_sessions": 1, "gomsm_backups_total": 7, "gomsm_backup_queue": 1,
		"gomsm_saves_failed_total": 1, "gomsm_saves_one_copy_total": 1,
		"gomsm_touches_total": 1, "gomsm_encode_errors_total": 1, "gomsm_decode_errors_total": 1,
		"gomsm_late_cookies_total": 1, "gomsm_events_dropped_total": 1, "gomsm_principal_checks_total": 1, "gomsm_node_up": 1, "gomsm_node_info": 1,
		"gomsm_node_transitions_total": 2, "gomsm_memcached_enabled": 1,
		"gomsm_lock_waits_total": 1, "gomsm_lock_timeouts_total": 1, "gomsm_loads_from_backup_total": 1, "gomsm_decodes_saved_total": 1,
		"gomsm_backup_duration_seconds": 1, "gomsm_load_duration_seconds": 1,
		"gomsm_lock_wait_seconds": 1, "gomsm_session_encoded_bytes": 1,
		"gomsm_backup_queue_delay_seconds": 1, "gomsm_backup_queue_delay_lifetime_seconds": 1,
	} {
		if got := testutil.CollectAndCount(col, name); got != n {
			t.Errorf("%s: %d series, want %d", name, got, n)
		}
	}
	if got := testutil.CollectAndCount(col, "gomsm_memcached_ops_total"); got < 1 {
		t.Errorf("gomsm_memcached_ops_total: %d series", got)
	}
	problems, err := testutil.CollectAndLint(col)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}

	const want = `
# HELP gomsm_requests_total Requests through the session middleware by kind: "all" (every request; it includes the other kinds), "with_session" (had or created a session), "ignored" (matched IgnorePattern).
# TYPE gomsm_requests_total counter
gomsm_requests_total{kind="all"} 2
gomsm_requests_total{kind="ignored"} 1
gomsm_requests_total{kind="with_session"} 1
`
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), "gomsm_requests_total"); err != nil {
		t.Error(err)
	}

	// Runtime changes keep the collector consistent with its Describe.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	a.m.SetEnabled(false)
	if err := a.m.SetNodes("n1:"+mc.Addr()+",n2:127.0.0.1:1", "n2"); err != nil {
		t.Fatal(err)
	}
	check(t, reg, "after SetNodes",
		expect{"gomsm_memcached_enabled", nil, 0},
		expect{"gomsm_node_info", []string{"node", "n2", "failover", "true"}, 1},
	)
	a.m.ResetStats()
	check(t, reg, "after ResetStats",
		expect{"gomsm_requests_total", []string{"kind", "all"}, 0},
		expect{"gomsm_backup_duration_seconds", nil, 0},
		expect{"gomsm_backup_queue_delay_seconds", nil, 0},
		expect{"gomsm_backup_queue_delay_lifetime_seconds", nil, 0},
	)
	if p99 := quantile(t, reg, "gomsm_backup_queue_delay_lifetime_seconds", 0.99); p99 != 0 {
		t.Errorf("after ResetStats: backup queue delay p99 %v, want 0", p99)
	}
}

func TestCollectorOnLocalOnlyManager(t *testing.T) {
	a := startApp(t, core.Config{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(promstats.NewCollector(a.m))
	a.get(t, client(t), "/?name=ann")
	check(t, reg, "local-only",
		expect{"gomsm_sessions_total", []string{"event", "created"}, 1},
		expect{"gomsm_backups_total", []string{"result", "ok"}, 0},
		expect{"gomsm_node_up", nil, -1}, // no nodes, no series
	)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// BenchmarkCollect is the cost of one scrape of a Manager with two nodes.
func BenchmarkCollect(b *testing.B) {
	mcs := msmtest.StartN(b, 2)
	a := startApp(b, core.Config{Nodes: "n1:" + mcs[0].Addr() + ",n2:" + mcs[1].Addr(), SyncBackup: true})
	c := client(b)
	for i := range 10 {
		a.get(b, c, fmt.Sprintf("/?name=%d", i))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(promstats.NewCollector(a.m))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
