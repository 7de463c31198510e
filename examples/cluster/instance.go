package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/examples/internal/shop"
	"github.com/gomsm/msm/ginmsm"
)

// instanceHeader names, in every response, the instance that served it: the
// demo's evidence of where the balancer sent a request.
const instanceHeader = "X-Gomsm-Instance"

// instance is one instance of the gin shop app (examples/internal/shop)
// with its own core.Manager and HTTP server on a loopback port. It can be
// stopped and started again on the same port, with a new Manager, as a
// restarted process would be.
type instance struct {
	name  string // "app1"; also its route in sticky mode
	addr  string // "127.0.0.1:PORT", fixed at the first start
	delay time.Duration

	m   *core.Manager
	srv *http.Server
}

// URL is the instance's base URL.
func (in *instance) URL() string { return "http://" + in.addr }

// start creates a Manager with cfg and serves the shop app with it. On top
// of the shop's routes, POST /slow/cart/items/:item is AddItem with a pause
// of in.delay between loading the session and saving it: a slow
// read-modify-write, for the locking step.
func (in *instance) start(cfg core.Config) error {
	m, err := core.New(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", in.name, err)
	}
	addr := in.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		m.Close()
		return fmt.Errorf("%s: %w", in.name, err)
	}
	in.addr = ln.Addr().String()
	name := in.name
	r := shop.Router(m, func(c *gin.Context) { c.Header(instanceHeader, name) })
	r.POST("/slow/cart/items/:item", func(c *gin.Context) {
		ginmsm.Session(c).Keys() // the session is in use from here on
		time.Sleep(in.delay)
	}, shop.AddItem)
	in.m = m
	in.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go in.srv.Serve(ln) // returns when stop closes the server
	return nil
}

// stop closes the server (its port refuses connections from now on) and
// the Manager (which flushes pending backups), as when the process exits.
func (in *instance) stop() error {
	if in.srv == nil {
		return nil
	}
	err := errors.Join(in.srv.Close(), in.m.Close())
	in.srv = nil
	return err
}

// running reports whether the instance serves.
func (in *instance) running() bool { return in.srv != nil }
