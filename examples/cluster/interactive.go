package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// interactive serves the cluster until the context ends (Ctrl-C), with a
// control server that stops and starts instances and kills and restarts
// memcached nodes on request, so the story can be played by hand.
func (d *demo) interactive() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.control(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer func() {
		// Let a control request in progress finish before the cluster stops.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	ctl := "http://" + ln.Addr().String()

	p := d.out.printf
	p("   control        %s\n", ctl)
	p("\nThe cluster runs until Ctrl-C, which also stops the memcached nodes it started. Try:\n\n")
	try := func(comment, format string, args ...any) {
		p("   # %s\n   %s\n", comment, fmt.Sprintf(format, args...))
	}
	try("a cart, on app1 or app2 (see "+instanceHeader+")", "curl -si -c jar -b jar -X POST %s/cart/items/apple", d.lbURL)
	try("the same instance again: the balancer routes on the cookie's route", "curl -si -c jar -b jar %s/cart", d.lbURL)
	try("the cookie: <base>-<node>.<route>", "grep %s jar", cookieName)
	try("stop an instance (app1, app2); .../start brings it back", "curl -X POST %s/app1/stop", ctl)
	if d.nodes != nil {
		try("kill -9 a memcached node (n1, n2); .../restart restarts it, empty", "curl -X POST %s/n1/kill", ctl)
	}
	<-d.ctx.Done()
	p("\nstopping\n")
	return nil
}

// control returns the handler of the control server:
// POST /{app1,app2}/{stop,start} and POST /{n1,n2}/{kill,restart}.
func (d *demo) control() http.Handler {
	var mu sync.Mutex // one change at a time
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{target}/{action}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		target, action := r.PathValue("target"), r.PathValue("action")
		var err error
		switch app, mc := d.app(target), d.node(target); {
		case app != nil && action == "stop" && !app.running():
			fmt.Fprintf(w, "%s: already stopped\n", target)
			return
		case app != nil && action == "stop":
			err = app.stop()
		case app != nil && action == "start" && app.running():
			fmt.Fprintf(w, "%s: already running\n", target)
			return
		case app != nil && action == "start":
			err = app.start(d.stickyConfig(app.name))
		case mc != nil && action == "kill":
			mc.Kill()
		case mc != nil && action == "restart":
			err = mc.Restart()
		default:
			http.Error(w, "want POST /app1/stop, /app1/start, /n1/kill or /n1/restart (app2, n2 likewise)", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		d.out.printf("   control: %s %s\n", target, action)
		fmt.Fprintf(w, "%s: %s done\n", target, action)
	})
	return mux
}

// app returns the instance called name, nil if none.
func (d *demo) app(name string) *instance {
	for _, app := range d.apps {
		if app != nil && app.name == name {
			return app
		}
	}
	return nil
}
