// Command server is one gomsm instance for the chaos test
// (github.com/gomsm/msm/chaos): a net/http server whose only page, POST
// /incr, adds one to a counter in the session and answers the new value.
// The test runs two of them as separate processes behind a load balancer,
// so that killing an instance is a real kill -9.
//
// It listens on -listen (default a free loopback port) and prints
// "listening http://ADDR" on stdout once it accepts connections. GET
// /debug/vars shows the Manager's Stats (expvar, under "gomsm"); GET
// /healthz answers "ok" without touching sessions.
//
//	server -nodes n1:127.0.0.1:11211,n2:127.0.0.1:11212 -route app1 -mode sticky -sync
package main

import (
	"expvar"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/gomsm/msm/core"
)

func main() {
	var (
		cfg    core.Config
		listen = flag.String("listen", "127.0.0.1:0", "address to listen on")
		mode   = flag.String("mode", "sticky", "sticky or non-sticky")
	)
	flag.StringVar(&cfg.Nodes, "nodes", "", "memcached nodes, as core.Config.Nodes")
	flag.StringVar(&cfg.Route, "route", "", "this instance's route (core.Config.Route)")
	flag.BoolVar(&cfg.SyncBackup, "sync", false, "SyncBackup")
	flag.DurationVar(&cfg.BackupTimeout, "backup-timeout", 0, "BackupTimeout (0: the default)")
	flag.StringVar(&cfg.LockingMode, "locking", "", "LockingMode (non-sticky)")
	flag.BoolVar(&cfg.ProceedOnLockTimeout, "proceed-on-lock-timeout", false, "ProceedOnLockTimeout")
	flag.DurationVar(&cfg.LockExpiry, "lock-expiry", 0, "LockExpiry (0: the default)")
	flag.DurationVar(&cfg.OperationTimeout, "op-timeout", 0, "OperationTimeout (0: the default)")
	flag.DurationVar(&cfg.NodeRetryInterval, "node-retry", 0, "NodeRetryInterval (0: the default)")
	flag.Parse()
	switch *mode {
	case "sticky":
	case "non-sticky":
		cfg.NonSticky = true
	default:
		fatal(fmt.Errorf("-mode %q: want sticky or non-sticky", *mode))
	}
	cfg.IgnorePattern = `^/(healthz|debug/)`
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	m, err := core.New(cfg)
	if err != nil {
		fatal(err)
	}
	if err := m.PublishExpvar("gomsm"); err != nil {
		fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		n := s.GetInt("n") + 1
		s.Set("n", n)
		w.Write([]byte(strconv.Itoa(n)))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.Handle("GET /debug/vars", expvar.Handler())

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	fatal(http.Serve(ln, m.Middleware(mux)))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "server:", err)
	os.Exit(1)
}
