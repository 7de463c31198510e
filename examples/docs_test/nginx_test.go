package docstest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNginxRecipe runs docs/nginx.conf, the configuration that
// docs/load-balancers.md prints, with real nginx in front of two instances
// of examples/gin (routes app1 and app2, sticky mode, one memcached),
// inside a minimal nginx.conf of the test's own. Only the listen port and
// the two server addresses change.
func TestNginxRecipe(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is not in PATH (CI=true: install it)")
		}
		t.Skip("nginx is not in PATH")
	}
	cfg := readFile(t, "../../docs/nginx.conf")
	page := readFile(t, "../../docs/load-balancers.md")
	if !strings.Contains(page, "```nginx\n"+cfg+"```\n") {
		t.Fatal("docs/load-balancers.md does not hold docs/nginx.conf verbatim in an nginx block: copy the file into the page")
	}

	addr, procs := startShopInstances(t)
	front := "127.0.0.1:" + strconv.Itoa(freePort(t))
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
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.conf"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(nginxMain(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	proc := startProcess(t, []string{nginx, "-e", "stderr", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")})
	waitListening(t, front, proc)
	checkStickyRouting(t, front, procs, proc)
}
