// Command cluster shows gomsm's failover story on one machine: it starts
// two memcached nodes on free loopback ports, two instances of the gin
// shop app (examples/internal/shop) with routes app1 and app2, and a small
// sticky load balancer in front, then walks through what happens to a
// shopping cart when an instance stops, when its memcached node is killed,
// when both come back, and, in non-sticky mode, when two requests of one
// session race on two instances. Each step prints its evidence; the exit
// status is 0 only if all of it held.
//
//	make demo                                  # installs memcached if it can, then runs this
//	go run ./examples/cluster                  # the story, about 5 s
//	go run ./examples/cluster -interactive     # start the cluster, print its URLs, wait for Ctrl-C
//	go run ./examples/cluster -v               # with the instances' gomsm log lines
//	MSM_NODES=n1:host:11211,n2:host:11212 go run ./examples/cluster   # your memcached (never killed)
//
// Everything listens on 127.0.0.1 only. memcached must be in PATH unless
// MSM_NODES is set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	var opts options
	flag.BoolVar(&opts.Interactive, "interactive", false, "start the cluster, print its URLs and wait for Ctrl-C instead of running the story")
	flag.BoolVar(&opts.Verbose, "v", false, "show the instances' gomsm log lines")
	flag.DurationVar(&opts.Delay, "delay", 300*time.Millisecond, "how long each slow request of the locking step holds the session")
	flag.Parse()
	opts.Nodes = os.Getenv("MSM_NODES")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !opts.Interactive {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 50*time.Second)
		defer cancel()
	}
	gin.SetMode(gin.ReleaseMode)
	err := run(ctx, os.Stdout, opts)
	switch {
	case err == nil:
	case errors.Is(err, errFailed):
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		os.Exit(1)
	}
}
