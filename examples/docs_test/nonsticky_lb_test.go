package docstest_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
		if _, err := exec.LookPath("haproxy"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("haproxy is not in PATH (CI=true: install it)")
			}
			t.Skip("haproxy is not in PATH")
		}
		sticky := readFile(t, "../../docs/haproxy.cfg")
		head, _, ok := strings.Cut(sticky, "\nbackend shop")
		if !ok {
			t.Fatal("docs/haproxy.cfg has no backend shop")
		}
		addr, procs := startShopInstances(t, "MSM_NON_STICKY=true")
		front := "127.0.0.1:" + strconv.Itoa(freePort(t))
		cfg := strings.NewReplacer("bind :80", "bind "+front, "10.0.0.11:8080", addr["app1"], "10.0.0.12:8080", addr["app2"]).
			Replace(head + "\n" + haproxyBlocks[0])
		file := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		lb := startProcess(t, []string{"haproxy", "-db", "-f", file})
		waitListening(t, front, lb)
		checkRoundRobin(t, front, procs)
	})
	t.Run("nginx", func(t *testing.T) {
		nginx, err := exec.LookPath("nginx")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("nginx is not in PATH (CI=true: install it)")
			}
			t.Skip("nginx is not in PATH")
		}
		addr, procs := startShopInstances(t, "MSM_NON_STICKY=true")
		front := "127.0.0.1:" + strconv.Itoa(freePort(t))
		cfg := strings.NewReplacer("listen 80;", "listen "+front+";", "10.0.0.11:8080", addr["app1"], "10.0.0.12:8080", addr["app2"]).
			Replace(nginxBlocks[0])
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "shop.conf"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(nginxMain(dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		lb := startProcess(t, []string{nginx, "-e", "stderr", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")})
		waitListening(t, front, lb)
		checkRoundRobin(t, front, procs)
	})
}

// checkRoundRobin sends 10 requests of one session through the balancer
// at front: each sees every change before it, and both instances served
// some (their gin logs count the requests).
func checkRoundRobin(t *testing.T, front string, procs map[string]*process) {
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
		if n := strings.Count(p.log(), `POST     "/cart/items/apple"`); n == 0 {
			t.Errorf("instance %s served none of the 10 requests: the balancer did not balance\n%s", name, p.log())
		}
	}
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
