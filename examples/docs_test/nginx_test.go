package docstest_test

import (
	"strings"
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
	cfg := readFile(t, "../../docs/nginx.conf")
	page := readFile(t, "../../docs/load-balancers.md")
	if !strings.Contains(page, "```nginx\n"+cfg+"```\n") {
		t.Fatal("docs/load-balancers.md does not hold docs/nginx.conf verbatim in an nginx block: copy the file into the page")
	}

	addr, procs := startShopInstances(t)
	front := proctest.FreeAddr(t)
	for old, new := range map[string]string{
		"listen 80;":     "listen " + front + ";",
		"10.0.0.11:8080": addr["app1"],
		"10.0.0.12:8080": addr["app2"],
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("docs/nginx.conf: no %q, which the test replaces", old)
		}
		cfg = strings.ReplaceAll(cfg, old, new)
	}
	checkStickyRouting(t, front, procs, startNginx(t, nginx, cfg, front))
}
