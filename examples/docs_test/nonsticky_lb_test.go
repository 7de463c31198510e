package docstest_test

import (
	"strings"
	"testing"

	"github.com/gomsm/msm/examples/internal/proctest"
)

// TestNonStickyRecipes runs the two configurations of
// docs/load-balancers.md, "Non-sticky mode: round-robin", with real HAProxy
// (the page's backend after the defaults and frontend of docs/haproxy.cfg,
// as the page says) and nginx, in front of two non-sticky instances of
// examples/gin: requests of one session go to both instances and none of
// its changes is lost.
func TestNonStickyRecipes(t *testing.T) {
	page := readFile(t, "../../docs/load-balancers.md")
	sec := section(t, page, "## Non-sticky mode: round-robin")
	haproxyBlocks, nginxBlocks := codeBlocks(sec, "haproxy"), codeBlocks(sec, "nginx")
	if len(haproxyBlocks) != 1 || len(nginxBlocks) != 1 {
		t.Fatalf("want one haproxy and one nginx block in the non-sticky section, found %d and %d", len(haproxyBlocks), len(nginxBlocks))
	}
	t.Run("haproxy", func(t *testing.T) {
		haproxy := proctest.Need(t, "haproxy")
		sticky := readFile(t, "../../docs/haproxy.cfg")
		head, _, ok := strings.Cut(sticky, "\nbackend shop")
		if !ok {
			t.Fatal("docs/haproxy.cfg has no backend shop")
		}
		addr, procs := startShopInstances(t, "MSM_NON_STICKY=true")
		front := proctest.FreeAddr(t)
		cfg := onLoopback(t, "the non-sticky haproxy block", head+"\n"+haproxyBlocks[0], "bind :80", "bind "+front, addr)
		startHAProxy(t, haproxy, cfg, front)
		checkRoundRobin(t, front, procs)
	})
	t.Run("nginx", func(t *testing.T) {
		nginx := proctest.Need(t, "nginx")
		addr, procs := startShopInstances(t, "MSM_NON_STICKY=true")
		front := proctest.FreeAddr(t)
		cfg := onLoopback(t, "the non-sticky nginx block", nginxBlocks[0], "listen 80;", "listen "+front+";", addr)
		startNginx(t, nginx, cfg, front)
		checkRoundRobin(t, front, procs)
	})
}

// checkRoundRobin sends 10 requests of one session through the balancer
// at front: each sees every change before it, and both instances served
// some (their gin logs count the requests).
func checkRoundRobin(t *testing.T, front string, procs map[string]*proctest.Process) {
	t.Helper()
	cookie := ""
	for i := 1; i <= 10; i++ {
		var v cartView
		v, cookie = cartRequest(t, front, cookie)
		if v.Items["apple"] != i {
			t.Fatalf("request %d: %d apples, want %d: a change was lost", i, v.Items["apple"], i)
		}
	}
	for name, p := range procs {
		if n := strings.Count(p.Log(), `POST     "/cart/items/apple"`); n == 0 {
			t.Errorf("instance %s served none of the 10 requests: the balancer did not balance\n%s", name, p.Log())
		}
	}
}
