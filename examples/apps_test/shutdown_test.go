package appstest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomsm/msm/core/msmtest"
	"github.com/gomsm/msm/examples/internal/proctest"
)

// TestExamplesStopGracefully sends SIGTERM to each example app while the
// backups of its sessions are queued and checks that they reached
// memcached: the app exits with status 0 once memcached answers, and a new
// process of the same app serves every session from memcached. memcached
// is paused (SIGSTOP) while the sessions are made, so the backups cannot
// have been sent before the signal: without the graceful stop, SIGTERM
// kills the process with them still in memory.
func TestExamplesStopGracefully(t *testing.T) {
	apps := []struct {
		dir         string
		first, next string // the request that makes a session, the one that reads it back
		want        string // in the answer to next, from a new process
	}{
		{"gin", "POST /cart/items/apple", "GET /cart", `"apple":1`},
		{"echo", "POST /cart/items/apple", "GET /cart", `"apple":1`},
		{"chi", "POST /cart/items/apple", "GET /cart", `"apple":1`},
		{"nethttp", "GET /", "GET /", "visit 2"},
	}
	for _, app := range apps {
		t.Run(app.dir, func(t *testing.T) {
			exe := proctest.Build(t, "./"+app.dir)
			mc := msmtest.Start(t)
			env := []string{
				"MSM_NODES=n1:" + mc.Addr(),
				// Healthy memcached, paused on purpose: give it all the time.
				"MSM_OPERATION_TIMEOUT=60s",
			}

			first := startApp(t, exe, env)
			mc.Pause()
			const sessions = 40 // more than the backup workers, so jobs wait in queues
			cookies := make([]string, sessions)
			for i := range cookies {
				body, cookie := first.do(t, app.first, "")
				if cookie == "" {
					t.Fatalf("%s answered without a session cookie: %s", app.first, body)
				}
				cookies[i] = cookie
			}
			if err := first.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			mc.Resume()
			// Healthy memcached: the queued backups take far less.
			if err := first.Wait(t, 60*time.Second); err != nil {
				t.Fatalf("after SIGTERM: %v (want exit status 0)\n%s", err, first.Log())
			}
			if !strings.Contains(first.Log(), "stopped: the queued backups were sent") {
				t.Errorf("the log does not say the backups were sent:\n%s", first.Log())
			}

			next := startApp(t, exe, env)
			for i, c := range cookies {
				if body, _ := next.do(t, app.next, c); !strings.Contains(body, app.want) {
					t.Fatalf("session %d after the restart: %s answered %q, want %s: its backup was lost",
						i, app.next, body, app.want)
				}
			}
			if err := next.Stop(t, 60*time.Second); err != nil {
				t.Errorf("second process after SIGTERM: %v\n%s", err, next.Log())
			}
		})
	}
}

// runningApp is an example app the test started on addr.
type runningApp struct {
	*proctest.Process
	addr string
}

// startApp starts exe on a free loopback port and waits until it accepts
// connections; the test's cleanup kills it if it is still running.
func startApp(t *testing.T, exe string, env []string) *runningApp {
	t.Helper()
	addr := proctest.FreeAddr(t)
	a := &runningApp{Process: proctest.Start(t, []string{exe}, append(env, "ADDR="+addr)...), addr: addr}
	a.WaitListening(t, addr)
	return a
}

// do sends "METHOD /path" with the session cookie (may be empty) and
// returns the body and the session cookie of the answer ("name=value").
func (a *runningApp) do(t *testing.T, request, cookie string) (string, string) {
	t.Helper()
	method, path, _ := strings.Cut(request, " ")
	req, err := http.NewRequest(method, "http://"+a.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v\n%s", request, err, a.Log())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %s", request, resp.Status, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "sid" {
			return string(body), fmt.Sprintf("%s=%s", c.Name, c.Value)
		}
	}
	return string(body), ""
}
