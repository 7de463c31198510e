// Command gin is a shopping cart on gin with gomsm sessions. Configure it
// with the environment (see examples/internal/appenv): without MSM_NODES
// the sessions are local to the process.
//
//	MSM_NODES=n1:localhost:11211 go run ./examples/gin
//	curl -c jar -b jar -X POST localhost:8080/cart/items/apple
//	curl -c jar -b jar localhost:8080/cart
//	curl -c jar -b jar -d user=ann localhost:8080/login
//	curl -c jar -b jar -X DELETE localhost:8080/cart
//	curl -c jar -b jar -X POST localhost:8080/logout
package main

import (
	"errors"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/examples/internal/appenv"
	"github.com/gomsm/msm/ginmsm"
)

// Cart is the session's shopping cart: a struct, read back with core.GetAs
// on whichever instance serves the next request.
type Cart struct {
	Items map[string]int `json:"items"` // item -> quantity
}

func main() {
	cfg, addr, err := appenv.Config()
	if err != nil {
		log.Fatal(err)
	}
	m, err := core.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // flushes pending backups

	gin.SetMode(gin.ReleaseMode)
	log.Printf("listening on http://%s", addr)
	if err := http.ListenAndServe(addr, router(m, gin.Logger())); err != nil {
		log.Print(err)
	}
}

// router returns the app: the middlewares mw, gin's recovery, then the
// sessions.
func router(m *core.Manager, mw ...gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	r.Use(mw...)
	r.Use(gin.Recovery(), ginmsm.Middleware(m))
	r.GET("/cart", viewCart)
	r.POST("/cart/items/:item", func(c *gin.Context) {
		s := ginmsm.Session(c)
		cart, err := core.GetAs[Cart](s, "cart")
		if err != nil && !errors.Is(err, core.ErrNoAttribute) {
			c.String(http.StatusInternalServerError, "%v\n", err)
			return
		}
		if cart.Items == nil {
			cart.Items = map[string]int{}
		}
		cart.Items[c.Param("item")]++
		s.Set("cart", cart)
		viewCart(c)
	})
	r.DELETE("/cart", func(c *gin.Context) {
		ginmsm.Session(c).Delete("cart")
		viewCart(c)
	})
	r.POST("/login", func(c *gin.Context) {
		s := ginmsm.Session(c)
		s.RenewID() // a new id at login defeats session fixation
		s.Set("user", c.PostForm("user"))
		viewCart(c)
	})
	r.POST("/logout", func(c *gin.Context) {
		ginmsm.Session(c).Invalidate()
		c.String(http.StatusOK, "logged out\n")
	})
	return r
}

// viewCart answers with the user, the cart and the session id.
func viewCart(c *gin.Context) {
	s := ginmsm.Session(c)
	cart, _ := core.GetAs[Cart](s, "cart")
	c.JSON(http.StatusOK, gin.H{"user": s.GetString("user"), "items": cart.Items, "session": s.ID()})
}
