package docstest_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/gomsm/msm/core"
)

// routeOf returns the route suffix of a gomsm session id
// "<base>-<node>.<route>", "" when it has none: what a load balancer
// routes on.
func routeOf(id string) string {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return ""
	}
	return id[i+1:]
}

// docs/load-balancers.md, "The rule": the route is what follows the last
// dot of the session id.
func Example_loadBalancerRouteOf() {
	fmt.Println(routeOf("602f7397fbe4d9932e59a9d0e52fe178-n1.app2"))
	fmt.Printf("%q\n", routeOf("602f7397fbe4d9932e59a9d0e52fe178-n1"))
	// Output:
	// app2
	// ""
}

// docs/load-balancers.md, "Each instance names itself": every instance
// gets its own Route, here from the environment (MSM_ROUTE=app1 on the
// first instance, app2 on the second).
func Example_loadBalancerInstanceRoute() {
	m, err := core.New(core.Config{
		Nodes: os.Getenv("MSM_NODES"),
		Route: os.Getenv("MSM_ROUTE"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
}

// docs/load-balancers.md, "Each instance names itself": the session
// cookie of an instance with Route "app1" ends in ".app1".
func Example_loadBalancerCookie() {
	m, err := core.New(core.Config{Route: "app1"})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		core.FromContext(r.Context()).Set("cart", "apple")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cart/items/apple", nil))
	c := rec.Result().Cookies()[0]
	fmt.Println(c.Name, routeOf(c.Value))
	// Output: sid app1
}
