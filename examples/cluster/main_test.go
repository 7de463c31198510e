package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core/msmtest"
	"github.com/gomsm/msm/examples/internal/proctest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// needMemcached skips the test when memcached is not in PATH, or fails it
// under CI, where a skipped demo would pass without showing anything.
func needMemcached(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("memcached"); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("CI=%s and %v: install memcached (apt-get install -y memcached / brew install memcached)", ci, err)
		}
		t.Skipf("%v: install memcached (apt-get install -y memcached / brew install memcached)", err)
	}
}

// TestStory runs the whole demo, as `go run ./examples/cluster` does.
func TestStory(t *testing.T) {
	needMemcached(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	start := time.Now()
	err := run(ctx, &out, options{})
	t.Logf("the demo took %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for i := 1; i <= 5; i++ {
		if want := fmt.Sprintf("PASS step %d\n", i); !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "FAIL") {
		t.Error("the output has a FAIL line")
	}
}

// TestStoryWithGivenNodes runs the demo on memcached nodes it did not start
// (MSM_NODES): it must not kill them, and skips the node failure steps.
func TestStoryWithGivenNodes(t *testing.T) {
	needMemcached(t)
	mcs := msmtest.StartN(t, 2)
	before := mcs[0].Counters()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	err := run(ctx, &out, options{Nodes: fmt.Sprintf("n1:%s,n2:%s", mcs[0].Addr(), mcs[1].Addr()), Delay: 100 * time.Millisecond})
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"PASS step 1\n", "PASS step 2\n", "SKIP step 3: MSM_NODES is set", "PASS step 4\n", "PASS step 5\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	// Both nodes still run, and were used.
	if d := mcs[0].Counters().Sub(before); d.Set == 0 {
		t.Errorf("node n1 saw no set: %+v", d)
	}
}

// TestMissingMemcached: without memcached in PATH the demo says what to
// install.
func TestMissingMemcached(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var out strings.Builder
	err := run(t.Context(), &out, options{})
	if !errors.Is(err, msmtest.ErrNoMemcached) || !strings.Contains(err.Error(), "apt-get install -y memcached") || !strings.Contains(err.Error(), "brew install memcached") {
		t.Fatalf("run = %v, want msmtest.ErrNoMemcached with install instructions", err)
	}
}

// TestBalancer checks the routing rules on two plain backends: the route
// suffix of the cookie picks the instance, a refused connection sends the
// request to the other one (with its body), a request without a known
// route and every request in non-sticky mode go round-robin.
func TestBalancer(t *testing.T) {
	var backends []backend
	var servers []*httptest.Server
	for _, name := range []string{"app1", "app2"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", name, body)
		}))
		defer srv.Close()
		u, _ := url.Parse(srv.URL)
		backends = append(backends, backend{route: name, url: u})
		servers = append(servers, srv)
	}
	b := newBalancer("sid", backends)
	lb := httptest.NewServer(b)
	defer lb.Close()
	send := func(cookie, body string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, lb.URL, strings.NewReader(body))
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "sid", Value: cookie})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.Status + " " + string(got)
	}
	id := "0123456789abcdef0123456789abcdef-n1"
	for range 3 {
		if got := send(id+".app2", "x"); got != "200 OK app2 x" {
			t.Errorf("route app2 -> %q", got)
		}
		if got := send(id+".app1", "y"); got != "200 OK app1 y" {
			t.Errorf("route app1 -> %q", got)
		}
	}
	if a, c := send("", ""), send(id+".app9", ""); a == c {
		t.Errorf("no route and an unknown route should go round-robin, got %q twice", a)
	}
	b.nonSticky.Store(true)
	if a, c := send(id+".app1", ""), send(id+".app1", ""); a == c {
		t.Errorf("non-sticky mode should ignore the route and go round-robin, got %q twice", a)
	}
	b.nonSticky.Store(false)
	servers[0].Close() // app1 is down: connections are refused
	if got := send(id+".app1", "body survives"); got != "200 OK app2 body survives" {
		t.Errorf("route app1 with app1 down -> %q, want app2 with the body", got)
	}
	if b.failovers.Load() == 0 {
		t.Error("no failover counted")
	}
	servers[1].Close()
	if got := send(id+".app1", ""); !strings.HasPrefix(got, "502") {
		t.Errorf("both down -> %q, want 502", got)
	}
	if got := routeOf("0123456789abcdef0123456789abcdef"); got != "" {
		t.Errorf("routeOf(no route) = %q", got)
	}
}

// TestInteractive drives the interactive mode through its control server:
// an instance stopped by hand hands its session to the other one.
func TestInteractive(t *testing.T) {
	needMemcached(t)
	ctx, cancel := context.WithCancel(t.Context())
	out := &proctest.Output{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, out, options{Interactive: true}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	urlOf := func(label string) string {
		re := regexp.MustCompile(`(?m)^   ` + label + ` +(http://\S+)`)
		var u string
		waitFor(t.Context(), 30*time.Second, func() bool {
			m := re.FindStringSubmatch(out.String())
			if m != nil {
				u = m[1]
			}
			return m != nil
		})
		if u == "" {
			t.Fatalf("no %s URL in the output:\n%s", label, out.String())
		}
		return u
	}
	lb, ctl := urlOf("balancer"), urlOf("control")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	send := func(method, target string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, target, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(instanceHeader), string(body)
	}
	_, first, _ := send(http.MethodPost, lb+"/cart/items/apple")
	if code, _, body := send(http.MethodPost, ctl+"/"+first+"/stop"); code != http.StatusOK {
		t.Fatalf("stop %s: %d %s", first, code, body)
	}
	if _, served, body := send(http.MethodGet, lb+"/cart"); served == first || !strings.Contains(body, `"apple":1`) {
		t.Errorf("after stopping %s: served by %q, %s", first, served, body)
	}
	for _, path := range []string{"/" + first + "/start", "/n1/kill", "/n1/restart"} {
		if code, _, body := send(http.MethodPost, ctl+path); code != http.StatusOK {
			t.Errorf("POST %s: %d %s", path, code, body)
		}
	}
	// Starting a running instance (stopping a stopped one) is no mistake:
	// the control server says so rather than answering with its usage.
	if code, _, body := send(http.MethodPost, ctl+"/"+first+"/start"); code != http.StatusOK || body != first+": already running\n" {
		t.Errorf("POST /%s/start on a running instance: %d %q, want 200 %q", first, code, body, first+": already running\n")
	}
	if code, _, _ := send(http.MethodPost, ctl+"/app9/stop"); code != http.StatusNotFound {
		t.Errorf("POST /app9/stop: %d, want 404", code)
	}
}
