// Command gin is a shopping cart on gin with gomsm sessions. Configure it
// with the environment (see examples/internal/appenv): without MSM_NODES
// the sessions are local to the process. The app itself lives in
// examples/internal/shop, which examples/cluster runs too.
//
//	MSM_NODES=n1:localhost:11211 go run ./examples/gin
//	curl -c jar -b jar -X POST localhost:8080/cart/items/apple
//	curl -c jar -b jar localhost:8080/cart
//	curl -c jar -b jar -d user=ann localhost:8080/login
//	curl -c jar -b jar -X DELETE localhost:8080/cart
//	curl -c jar -b jar -X POST localhost:8080/logout
package main

import (
	"log"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/examples/internal/appenv"
	"github.com/gomsm/msm/examples/internal/shop"
)

func main() {
	cfg, addr, err := appenv.Config()
	if err != nil {
		log.Fatal(err)
	}
	m, err := core.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	// Until Ctrl-C or SIGTERM; then running requests finish and the
	// queued backups are sent before the process exits.
	if err := appenv.Serve(addr, shop.Router(m, gin.Logger()), m); err != nil {
		log.Fatal(err)
	}
}
