package docstest_test

import (
	"testing"

	"github.com/gomsm/msm/examples/internal/proctest"
)

// TestNginxRecipe runs docs/nginx.conf, the configuration that
// docs/load-balancers.md prints, with real nginx in front of two instances
// of examples/gin (routes app1 and app2, sticky mode, one memcached),
// inside a minimal nginx.conf of the test's own. Only the listen port and
// the two server addresses change.
func TestNginxRecipe(t *testing.T) {
	nginx := proctest.Need(t, "nginx")
	cfg := recipe(t, "nginx.conf", "nginx")
	addr, procs := startShopInstances(t)
	front := proctest.FreeAddr(t)
	cfg = onLoopback(t, "docs/nginx.conf", cfg, "listen 80;", "listen "+front+";", addr)
	checkStickyRouting(t, front, procs, startNginx(t, nginx, cfg, front))
}
