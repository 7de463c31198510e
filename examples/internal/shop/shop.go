// Package shop is the gin shopping cart of examples/gin, as a package so
// that examples/cluster can run the same app on several instances in one
// process.
package shop

import (
	"errors"
	"maps"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/ginmsm"
)

// Cart is the session's shopping cart: a struct, read back with core.GetAs
// on whichever instance serves the next request.
type Cart struct {
	Items map[string]int `json:"items"` // item -> quantity
}

// Router returns the app: the middlewares mw, gin's recovery, then the
// sessions. Routes added to the returned engine later get the same
// middlewares.
func Router(m *core.Manager, mw ...gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	r.Use(mw...)
	r.Use(gin.Recovery(), ginmsm.Middleware(m))
	r.GET("/cart", func(c *gin.Context) {
		view(c, ginmsm.Session(c).Flashes()) // shown once: the next look has none
	})
	r.POST("/cart/items/:item", AddItem)
	r.DELETE("/cart", func(c *gin.Context) {
		ginmsm.Session(c).Delete("cart")
		ViewCart(c)
	})
	r.POST("/login", func(c *gin.Context) {
		s := ginmsm.Session(c)
		s.RenewID()                        // a new id at login defeats session fixation
		s.SetPrincipal(c.PostForm("user")) // Manager.InvalidatePrincipal logs the user out everywhere
		s.Set("user", c.PostForm("user"))
		ViewCart(c)
	})
	r.POST("/logout", func(c *gin.Context) {
		ginmsm.Session(c).Invalidate()
		c.String(http.StatusOK, "logged out\n")
	})
	return r
}

// AddItem puts one more of the item named by the :item parameter in the
// cart (a read-modify-write of the session), then answers as ViewCart.
func AddItem(c *gin.Context) {
	s := ginmsm.Session(c)
	cart, err := core.GetAs[Cart](s, "cart")
	if err != nil && !errors.Is(err, core.ErrNoAttribute) {
		c.String(http.StatusInternalServerError, "%v\n", err)
		return
	}
	// The stored cart is shared with the other requests of this session on
	// this instance: change a copy, never the map in place.
	items := maps.Clone(cart.Items)
	if items == nil {
		items = map[string]int{}
	}
	items[c.Param("item")]++
	s.Set("cart", Cart{Items: items})
	s.AddFlash("added " + c.Param("item")) // for the next GET /cart, on any instance
	ViewCart(c)
}

// ViewCart answers with the user, the cart and the session id.
func ViewCart(c *gin.Context) { view(c, nil) }

// view is ViewCart with the flash messages to show ("flashes", left out
// when there are none).
func view(c *gin.Context, flashes []any) {
	s := ginmsm.Session(c)
	cart, _ := core.GetAs[Cart](s, "cart")
	if cart.Items == nil {
		cart.Items = map[string]int{} // an empty cart is {}, not null
	}
	v := gin.H{"user": s.GetString("user"), "items": cart.Items, "session": s.ID()}
	if len(flashes) > 0 {
		v["flashes"] = flashes
	}
	c.JSON(http.StatusOK, v)
}
