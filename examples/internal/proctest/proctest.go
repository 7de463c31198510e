// Package proctest runs the programs that the examples' tests drive as
// separate processes (the example apps, HAProxy, nginx): it builds them,
// starts them on free loopback ports, waits until they listen, stops them
// with SIGTERM as a service manager would, and kills what is left when the
// test ends. memcached itself comes from core/msmtest.
package proctest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// listenTimeout bounds the wait for a program to listen: generous, since a
// busy machine can take seconds to start one.
const listenTimeout = 20 * time.Second

// Need returns the path of the program name, or skips the test when it is
// not in PATH, or fails it when CI is "true", where a skip would hide a
// missing install step.
func Need(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not in PATH (CI=true: install it)", name)
		}
		t.Skipf("%s is not in PATH", name)
	}
	return path
}

// Build runs "go build" on the package pkg of the examples module
// ("./gin") and returns the path of the binary, in a temporary directory
// of the test.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// moduleRoot is the examples module's directory: the tests that use this
// package run one level below it.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// FreeAddr returns "127.0.0.1:PORT" with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Process is a program the test started. What it writes to stdout and
// stderr is kept for [Process.Log]; the test's cleanup kills it if it
// still runs.
type Process struct {
	Cmd  *exec.Cmd
	out  Output
	done chan error // holds the exit error once the process has exited
}

// Start starts argv with the environment of the test plus env
// ("NAME=value", later ones win).
func Start(t testing.TB, argv []string, env ...string) *Process {
	t.Helper()
	p := &Process{done: make(chan error, 1)}
	p.Cmd = exec.Command(argv[0], argv[1:]...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = &p.out, &p.out
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.Cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		p.done <- <-p.done
	})
	return p
}

// Log returns what the process wrote so far.
func (p *Process) Log() string {
	return p.out.String()
}

// WaitListening waits until addr accepts connections (at most 20 s), and
// fails the test if the process exits first or the time runs out.
func (p *Process) WaitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(listenTimeout)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited before listening on %s: %v\n%s", p.Cmd.Path, addr, err, p.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after %v:\n%s", p.Cmd.Path, addr, listenTimeout, p.Log())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not an assertion
	}
}

// Stop sends SIGTERM, as a service manager does, and returns the exit
// error once the process has exited: nil for status 0. It fails the test
// if the process still runs after timeout.
func (p *Process) Stop(t testing.TB, timeout time.Duration) error {
	t.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait(t, timeout)
}

// Wait waits for the process to exit and returns its exit error: nil for
// status 0. It fails the test if the process still runs after timeout.
func (p *Process) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup and later calls
		return err
	case <-time.After(timeout):
		t.Fatalf("%s still runs after %v\n%s", p.Cmd.Path, timeout, p.Log())
		return nil
	}
}

// Output collects what a program writes, for a test to read while the
// program still runs: a strings.Builder safe for concurrent use.
type Output struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p; it never fails.
func (b *Output) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Output) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
