package chimsm_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/gomsm/msm/chimsm"
	"github.com/gomsm/msm/core"
)

// A visit counter in chi, whose static files get no session: IgnorePattern
// matches chi's route pattern. With no Nodes the sessions stay in this
// process; set Nodes to back them up to memcached.
func Example() {
	m, err := core.New(core.Config{
		IgnorePattern: `^/assets/\{file\}$`,
		RoutePattern:  chimsm.RoutePattern,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	r := chi.NewRouter()
	r.Use(middleware.Recoverer, chimsm.Middleware(m))
	r.Get("/visit", func(w http.ResponseWriter, r *http.Request) {
		s := chimsm.Session(r)
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		fmt.Fprintf(w, "visit %d", n)
	})
	r.Get("/assets/{file}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "asset %s, session id %q", chi.URLParam(r, "file"), chimsm.Session(r).ID())
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar} // a browser: it sends the session cookie back
	for _, path := range []string{"/visit", "/visit", "/assets/logo.png", "/visit"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// visit 1
	// visit 2
	// asset logo.png, session id ""
	// visit 3
}
