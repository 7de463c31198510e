package docstest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomsm/msm/examples/internal/proctest"
)

// recipe returns docs/<name>, a balancer configuration, after checking
// that docs/load-balancers.md prints it verbatim in a block of lang.
func recipe(t *testing.T, name, lang string) string {
	t.Helper()
	cfg := readFile(t, "../../docs/"+name)
	page := readFile(t, "../../docs/load-balancers.md")
	if !strings.Contains(page, "```"+lang+"\n"+cfg+"```\n") {
		t.Fatalf("docs/load-balancers.md does not hold docs/%s verbatim in a %s block: copy the file into the page", name, lang)
	}
	return cfg
}

// onLoopback returns the balancer configuration cfg (from what) with the
// listen directive listen turned into front and the pages' two server
// addresses into those of the instances app1 and app2. Each must be in
// cfg: a page that changes them would otherwise run untested.
func onLoopback(t *testing.T, what, cfg, listen, front string, addr map[string]string) string {
	t.Helper()
	for old, new := range map[string]string{
		listen:           front,
		"10.0.0.11:8080": addr["app1"],
		"10.0.0.12:8080": addr["app2"],
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("%s: no %q, which the test replaces", what, old)
		}
		cfg = strings.ReplaceAll(cfg, old, new)
	}
	return cfg
}

// startHAProxy runs HAProxy with the configuration cfg and waits until it
// listens on front.
func startHAProxy(t *testing.T, haproxy, cfg, front string) *proctest.Process {
	t.Helper()
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	lb := proctest.Start(t, []string{haproxy, "-db", "-f", file})
	lb.WaitListening(t, front)
	return lb
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
