// Command nethttp is the smallest gomsm app: a visit counter on plain
// net/http. Set MSM_NODES (for example "n1:localhost:11211") to back the
// sessions up to memcached; without it the sessions are local only.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/gomsm/msm/core"
)

func main() {
	m, err := core.New(core.Config{
		Nodes:         os.Getenv("MSM_NODES"),
		FailoverNodes: os.Getenv("MSM_FAILOVER_NODES"),
		NonSticky:     os.Getenv("MSM_NON_STICKY") == "true",
		Route:         os.Getenv("MSM_ROUTE"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		fmt.Fprintf(w, "visit %d (session %s)\n", n, s.ID())
	})
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "localhost:8080"
	}
	log.Printf("listening on http://%s", addr)
	log.Fatal(http.ListenAndServe(addr, m.Middleware(mux)))
}
