// Command echo is a shopping cart on echo with gomsm sessions. Configure
// it with the environment (see examples/internal/appenv): without
// MSM_NODES the sessions are local to the process.
//
//	MSM_NODES=n1:localhost:11211 go run ./examples/echo
//	curl -c jar -b jar -X POST localhost:8080/cart/items/apple
//	curl -c jar -b jar localhost:8080/cart
//	curl -c jar -b jar -d user=ann localhost:8080/login
//	curl -c jar -b jar -X DELETE localhost:8080/cart
//	curl -c jar -b jar -X POST localhost:8080/logout
package main

import (
	"errors"
	"log"
	"maps"
	"net/http"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/echomsm"
	"github.com/gomsm/msm/examples/internal/appenv"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
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
	e := app(m)
	e.Pre(middleware.Logger())
	// Until Ctrl-C or SIGTERM; then running requests finish and the
	// queued backups are sent before the process exits.
	if err := appenv.Serve(addr, e, m); err != nil {
		log.Fatal(err)
	}
}

// app returns the app: echo's recovery first, then the sessions.
func app(m *core.Manager) *echo.Echo {
	e := echo.New()
	e.Use(middleware.Recover(), echomsm.Middleware(m))
	e.GET("/cart", func(c echo.Context) error {
		return view(c, echomsm.Session(c).Flashes()) // shown once: the next look has none
	})
	e.POST("/cart/items/:item", func(c echo.Context) error {
		s := echomsm.Session(c)
		cart, err := core.GetAs[Cart](s, "cart")
		if err != nil && !errors.Is(err, core.ErrNoAttribute) {
			return err
		}
		// Change a copy: the stored cart is shared with any concurrent
		// request of the same session on this instance.
		items := maps.Clone(cart.Items)
		if items == nil {
			items = map[string]int{}
		}
		items[c.Param("item")]++
		cart.Items = items
		s.Set("cart", cart)
		s.AddFlash("added " + c.Param("item")) // for the next GET /cart, on any instance
		return viewCart(c)
	})
	e.DELETE("/cart", func(c echo.Context) error {
		echomsm.Session(c).Delete("cart")
		return viewCart(c)
	})
	e.POST("/login", func(c echo.Context) error {
		s := echomsm.Session(c)
		s.RenewID()                         // a new id at login defeats session fixation
		s.SetPrincipal(c.FormValue("user")) // Manager.InvalidatePrincipal logs the user out everywhere
		s.Set("user", c.FormValue("user"))
		return viewCart(c)
	})
	e.POST("/logout", func(c echo.Context) error {
		echomsm.Session(c).Invalidate()
		return c.String(http.StatusOK, "logged out\n")
	})
	return e
}

// viewCart answers with the user, the cart and the session id.
func viewCart(c echo.Context) error { return view(c, nil) }

// view is viewCart with the flash messages to show ("flashes", left out
// when there are none).
func view(c echo.Context, flashes []any) error {
	s := echomsm.Session(c)
	cart, _ := core.GetAs[Cart](s, "cart")
	if cart.Items == nil {
		cart.Items = map[string]int{} // an empty cart is {}, not null
	}
	v := map[string]any{"user": s.GetString("user"), "items": cart.Items, "session": s.ID()}
	if len(flashes) > 0 {
		v["flashes"] = flashes
	}
	return c.JSON(http.StatusOK, v)
}
