package appstest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomsm/msm/core/msmtest"
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
	bin := t.TempDir()
	for _, app := range apps {
		t.Run(app.dir, func(t *testing.T) {
			exe := filepath.Join(bin, app.dir)
			build := exec.Command("go", "build", "-o", exe, "./"+app.dir)
			build.Dir = ".."
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./%s: %v\n%s", app.dir, err, out)
			}
			mc := msmtest.Start(t)
			env := append(os.Environ(),
				"MSM_NODES=n1:"+mc.Addr(),
				// Healthy memcached, paused on purpose: give it all the time.
				"MSM_OPERATION_TIMEOUT=60s",
			)

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
			if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			mc.Resume()
			if err := first.wait(t); err != nil {
				t.Fatalf("after SIGTERM: %v (want exit status 0)\n%s", err, first.log())
			}
			if !strings.Contains(first.log(), "stopped: the queued backups were sent") {
				t.Errorf("the log does not say the backups were sent:\n%s", first.log())
			}

			next := startApp(t, exe, env)
			for i, c := range cookies {
				if body, _ := next.do(t, app.next, c); !strings.Contains(body, app.want) {
					t.Fatalf("session %d after the restart: %s answered %q, want %s: its backup was lost",
						i, app.next, body, app.want)
				}
			}
			next.cmd.Process.Signal(syscall.SIGTERM)
			if err := next.wait(t); err != nil {
				t.Errorf("second process after SIGTERM: %v\n%s", err, next.log())
			}
		})
	}
}

type runningApp struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (a *runningApp) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.Write(p)
}

func (a *runningApp) log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.String()
}

// startApp starts exe on a free loopback port and waits until it accepts
// connections; the test's cleanup kills it if it is still running.
func startApp(t *testing.T, exe string, env []string) *runningApp {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a := &runningApp{addr: addr, done: make(chan error, 1)}
	a.cmd = exec.Command(exe)
	a.cmd.Env = append(env, "ADDR="+addr)
	a.cmd.Stdout, a.cmd.Stderr = a, a
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return a
		}
		select {
		case err := <-a.done:
			t.Fatalf("%s exited before listening: %v\n%s", exe, err, a.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after 20s:\n%s", exe, addr, a.log())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not an assertion
	}
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
		t.Fatalf("%s: %v\n%s", request, err, a.log())
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

// wait waits for the process to exit (at most 60 s, memcached is healthy)
// and returns its exit error: nil for status 0.
func (a *runningApp) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
		return err
	case <-time.After(60 * time.Second):
		return errors.New("still running 60s after SIGTERM")
	}
}
