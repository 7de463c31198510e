// Package appenv reads the examples' gomsm configuration from the
// environment, so that every example app starts the same way:
//
//	MSM_NODES           memcached nodes: "n1:localhost:11211,n2:localhost:11212".
//	                    Unset: sessions are local to the process (no memcached).
//	MSM_FAILOVER_NODES  node ids used only when no other node is up: "n2".
//	MSM_NON_STICKY      "true": non-sticky mode (memcached is the store).
//	MSM_LOCKING         non-sticky locking: none, all, auto or uriPattern:<regexp>.
//	MSM_ROUTE           this instance's route, appended to session ids: "app1".
//	MSM_OPERATION_TIMEOUT  bound of every memcached operation, a Go duration:
//	                    "2s". Default core.DefaultOperationTimeout.
//	ADDR                listen address. Default localhost:8080.
//
// [Serve] runs an app until SIGINT or SIGTERM and stops it gracefully.
package appenv

import (
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/gomsm/msm/core"
)

// Config returns the core.Config and the listen address that the
// environment asks for, and logs how sessions will be kept. A malformed
// MSM_NON_STICKY is an error; core.New reports the other mistakes.
func Config() (core.Config, string, error) {
	cfg := core.Config{
		Nodes:         os.Getenv("MSM_NODES"),
		FailoverNodes: os.Getenv("MSM_FAILOVER_NODES"),
		LockingMode:   os.Getenv("MSM_LOCKING"),
		Route:         os.Getenv("MSM_ROUTE"),
	}
	if v := os.Getenv("MSM_NON_STICKY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, "", fmt.Errorf("MSM_NON_STICKY=%q: want true or false", v)
		}
		cfg.NonSticky = b
	}
	if v := os.Getenv("MSM_OPERATION_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, "", fmt.Errorf("MSM_OPERATION_TIMEOUT=%q: want a positive Go duration such as 2s", v)
		}
		cfg.OperationTimeout = d
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "localhost:8080"
	}
	switch {
	case cfg.Nodes == "":
		log.Printf("MSM_NODES is not set: sessions are local to this process (no memcached); " +
			"set MSM_NODES=n1:localhost:11211 to back them up")
	case cfg.NonSticky:
		locking := cfg.LockingMode
		if locking == "" {
			locking = core.LockNone
		}
		log.Printf("non-sticky sessions stored in memcached %s, locking %s", cfg.Nodes, locking)
	default:
		log.Printf("sticky sessions backed up to memcached %s", cfg.Nodes)
	}
	return cfg, addr, nil
}
