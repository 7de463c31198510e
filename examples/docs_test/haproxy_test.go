package docstest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gomsm/msm/core/msmtest"
	"github.com/gomsm/msm/examples/internal/proctest"
)

// TestHAProxyRecipe runs docs/haproxy.cfg, the configuration that
// docs/load-balancers.md prints, with real HAProxy in front of two
// instances of examples/gin (routes app1 and app2, sticky mode, one
// memcached). Only the bind port and the two server addresses change.
func TestHAProxyRecipe(t *testing.T) {
	haproxy := proctest.Need(t, "haproxy")
	cfg := recipe(t, "haproxy.cfg", "haproxy")
	addr, procs := startShopInstances(t)
	front := proctest.FreeAddr(t)
	balancer := startHAProxy(t, haproxy, onLoopback(t, "docs/haproxy.cfg", cfg, "bind :80", "bind "+front, addr), front)
	checkStickyRouting(t, front, procs, balancer)
}

// startShopInstances starts two instances of examples/gin in sticky mode
// on one memcached, with the routes app1 and app2 (or, with
// MSM_NON_STICKY=true in env, in non-sticky mode without routes), and
// returns their addresses and processes by name.
func startShopInstances(t *testing.T, env ...string) (map[string]string, map[string]*proctest.Process) {
	t.Helper()
	mc := msmtest.Start(t)
	bin := proctest.Build(t, "./gin")
	addr := map[string]string{}
	procs := map[string]*proctest.Process{}
	for _, route := range []string{"app1", "app2"} {
		addr[route] = proctest.FreeAddr(t)
		routeEnv := "MSM_ROUTE=" + route
		if slices.Contains(env, "MSM_NON_STICKY=true") {
			routeEnv = "MSM_ROUTE=" // non-sticky: no route (docs/load-balancers.md)
		}
		procs[route] = proctest.Start(t, []string{bin}, append([]string{"MSM_NODES=n1:" + mc.Addr(), routeEnv, "ADDR=" + addr[route]}, env...)...)
		procs[route].WaitListening(t, addr[route])
	}
	return addr, procs
}

// checkStickyRouting checks a load balancer at front in front of the
// instances procs (by route): a session stays on the instance that made
// it, new sessions go to both, and when its instance stops the session
// moves to the other one with its cart.
func checkStickyRouting(t *testing.T, front string, procs map[string]*proctest.Process, balancer *proctest.Process) {
	t.Helper()
	// A session stays on the instance that made it.
	v, cookie := cartRequest(t, front, "")
	home := routeOf(v.Session)
	if home != "app1" && home != "app2" {
		t.Fatalf("session id %q has no route of an instance", v.Session)
	}
	for i := 2; i <= 10; i++ {
		v, cookie = cartRequest(t, front, cookie)
		if r := routeOf(v.Session); r != home || v.Items["apple"] != i {
			t.Fatalf("request %d of a session made on %s: served by %s with %d apples, want %s and %d: "+
				"the balancer did not route on the cookie\n%s", i, home, r, v.Items["apple"], home, i, balancer.Log())
		}
	}
	// New sessions go to both instances.
	seen := map[string]bool{}
	for range 4 {
		v, _ := cartRequest(t, front, "")
		seen[routeOf(v.Session)] = true
	}
	if !seen["app1"] || !seen["app2"] {
		t.Errorf("4 new sessions went to %v, want both instances", seen)
	}
	// Its instance stops: the session moves to the other one, with its cart.
	other := map[string]string{"app1": "app2", "app2": "app1"}[home]
	// SIGTERM: the example app sends its queued backups first.
	if err := procs[home].Stop(t, 30*time.Second); err != nil {
		t.Fatalf("%s after SIGTERM: %v (want exit status 0)\n%s", home, err, procs[home].Log())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, next, err := tryCartRequest(front, cookie)
		if err == nil {
			if r := routeOf(v.Session); r != other || v.Items["apple"] != 11 {
				t.Fatalf("after %s stopped: served by %s with %d apples, want %s and 11", home, r, v.Items["apple"], other)
			}
			cookie = next
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s stopped, no answer through the balancer for 20s: %v\n%s", home, err, balancer.Log())
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not an assertion
	}
	if v, _ := cartRequest(t, front, cookie); routeOf(v.Session) != other || v.Items["apple"] != 12 {
		t.Errorf("the next request: %+v, want %s and 12 apples", v, other)
	}
}

type cartView struct {
	Session string         `json:"session"`
	Items   map[string]int `json:"items"`
}

func cartRequest(t *testing.T, front, cookie string) (cartView, string) {
	t.Helper()
	v, next, err := tryCartRequest(front, cookie)
	if err != nil {
		t.Fatal(err)
	}
	return v, next
}

// tryCartRequest adds an apple to the cart of the session whose cookie is
// given ("" for a new session) and returns the cart and the cookie to send
// next.
func tryCartRequest(front, cookie string) (cartView, string, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+front+"/cart/items/apple", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	// A connection per request, as curl makes: each request is routed on
	// its own, never because it reuses a connection to a server.
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return cartView{}, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return cartView{}, "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	var v cartView
	if err := json.Unmarshal(body, &v); err != nil {
		return cartView{}, "", fmt.Errorf("not a cart: %s", body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "sid" {
			cookie = "sid=" + c.Value
		}
	}
	return v, cookie, nil
}
