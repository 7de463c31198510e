package docstest_test

import (
	"fmt"
	"os"
	"path/filepath"
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
		cfg := strings.NewReplacer("bind :80", "bind "+front, "10.0.0.11:8080", addr["app1"], "10.0.0.12:8080", addr["app2"]).
			Replace(head + "\n" + haproxyBlocks[0])
		file := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		lb := proctest.Start(t, []string{haproxy, "-db", "-f", file})
		lb.WaitListening(t, front)
		checkRoundRobin(t, front, procs)
	})
	t.Run("nginx", func(t *testing.T) {
		nginx := proctest.Need(t, "nginx")
		addr, procs := startShopInstances(t, "MSM_NON_STICKY=true")
		front := proctest.FreeAddr(t)
		cfg := strings.NewReplacer("listen 80;", "listen "+front+";", "10.0.0.11:8080", addr["app1"], "10.0.0.12:8080", addr["app2"]).
			Replace(nginxBlocks[0])
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

// startNginx runs nginx with the server configuration cfg, inside the
// smallest main configuration of nginxMain, and waits until it listens on
// front.
func startNginx(t *testing.T, nginx, cfg, front string) *proctest.Process {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shop.conf"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(nginxMain(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := proctest.Start(t, []string{nginx, "-e", "stderr", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")})
	lb.WaitListening(t, front)
	return lb
}

// nginxMain is the smallest main nginx configuration around dir/shop.conf:
// in the foreground, with every file in dir.
func nginxMain(dir string) string {
	return fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/shop.conf;
}
`, dir)
}
