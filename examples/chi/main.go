// Command chi is a shopping cart on chi with gomsm sessions. Configure it
// with the environment (see examples/internal/appenv): without MSM_NODES
// the sessions are local to the process. Its /static/{file} route gets no
// session: IgnorePattern matches chi's route pattern (chimsm.RoutePattern),
// so does MSM_LOCKING=uriPattern:^/cart/items/\{item\}$ in non-sticky mode.
//
//	MSM_NODES=n1:localhost:11211 go run ./examples/chi
//	curl -c jar -b jar -X POST localhost:8080/cart/items/apple
//	curl -c jar -b jar localhost:8080/cart
//	curl -c jar -b jar -d user=ann localhost:8080/login
//	curl -c jar -b jar -X DELETE localhost:8080/cart
//	curl -c jar -b jar -X POST localhost:8080/logout
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/gomsm/msm/chimsm"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/examples/internal/appenv"
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
	cfg.IgnorePattern = `^/static/\{file\}$`
	cfg.RoutePattern = chimsm.RoutePattern
	m, err := core.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	// Until Ctrl-C or SIGTERM; then running requests finish and the
	// queued backups are sent before the process exits.
	if err := appenv.Serve(addr, middleware.Logger(router(m)), m); err != nil {
		log.Fatal(err)
	}
}

// router returns the app: chi's recoverer first, then the sessions.
func router(m *core.Manager) chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer, chimsm.Middleware(m))
	r.Get("/cart", func(w http.ResponseWriter, r *http.Request) {
		view(w, r, chimsm.Session(r).Flashes()) // shown once: the next look has none
	})
	r.Post("/cart/items/{item}", func(w http.ResponseWriter, r *http.Request) {
		s := chimsm.Session(r)
		cart, err := core.GetAs[Cart](s, "cart")
		if err != nil && !errors.Is(err, core.ErrNoAttribute) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Change a copy: the stored cart is shared with any concurrent
		// request of the same session on this instance.
		items := maps.Clone(cart.Items)
		if items == nil {
			items = map[string]int{}
		}
		items[chi.URLParam(r, "item")]++
		cart.Items = items
		s.Set("cart", cart)
		s.AddFlash("added " + chi.URLParam(r, "item")) // for the next GET /cart, on any instance
		viewCart(w, r)
	})
	r.Delete("/cart", func(w http.ResponseWriter, r *http.Request) {
		chimsm.Session(r).Delete("cart")
		viewCart(w, r)
	})
	r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
		s := chimsm.Session(r)
		s.RenewID()                         // a new id at login defeats session fixation
		s.SetPrincipal(r.FormValue("user")) // Manager.InvalidatePrincipal logs the user out everywhere
		s.Set("user", r.FormValue("user"))
		viewCart(w, r)
	})
	r.Post("/logout", func(w http.ResponseWriter, r *http.Request) {
		chimsm.Session(r).Invalidate()
		fmt.Fprintln(w, "logged out")
	})
	r.Get("/static/{file}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "the file %s, served with no session\n", chi.URLParam(r, "file"))
	})
	return r
}

// viewCart answers with the user, the cart and the session id.
func viewCart(w http.ResponseWriter, r *http.Request) { view(w, r, nil) }

// view is viewCart with the flash messages to show ("flashes", left out
// when there are none).
func view(w http.ResponseWriter, r *http.Request, flashes []any) {
	s := chimsm.Session(r)
	cart, _ := core.GetAs[Cart](s, "cart")
	if cart.Items == nil {
		cart.Items = map[string]int{} // an empty cart is {}, not null
	}
	v := map[string]any{"user": s.GetString("user"), "items": cart.Items, "session": s.ID()}
	if len(flashes) > 0 {
		v["flashes"] = flashes
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
