package msmtest

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// launch starts a Process for a test, skipping like Start when memcached
// is missing, and stops it when the test ends.
func launch(t *testing.T, o Options) *Process {
	t.Helper()
	p, err := Launch(o)
	if errors.Is(err, ErrNoMemcached) && os.Getenv("CI") == "" {
		t.Skip(err) // the rule of Start: with CI set, a missing binary fails
	}
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err != nil
}

// TestLaunchLifecycle drives a Process without a testing.TB: every failure
// comes back as an error.
func TestLaunchLifecycle(t *testing.T) {
	t.Parallel()
	p := launch(t, Options{MemoryMB: 16})
	if want := "127.0.0.1:" + strconv.Itoa(p.Port()); p.Addr() != want {
		t.Errorf("Addr() = %q, want %q", p.Addr(), want)
	}
	stats, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()
	if stats["pid"] != strconv.Itoa(pid) || stats["limit_maxbytes"] != strconv.Itoa(16<<20) {
		t.Errorf("stats pid %s (Pid %d), limit_maxbytes %s: not the memcached launched with -m 16",
			stats["pid"], pid, stats["limit_maxbytes"])
	}
	if c := dial(t, p.Addr()); len(c.do("set k 0 0 1\r\nx\r\n", "STORED")) != 1 {
		t.Fatal("set k")
	}

	p.Kill()
	if p.Pid() != 0 || !refused(p.Addr()) {
		t.Fatalf("after Kill: Pid %d, %s still accepts connections", p.Pid(), p.Addr())
	}
	if err := p.Pause(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Pause of a killed process = %v, want an error saying it was killed", err)
	}
	if err := p.Resume(); err == nil {
		t.Error("Resume of a killed process succeeded")
	}

	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	if p.Pid() == 0 || p.Pid() == pid {
		t.Errorf("Pid after Restart = %d, want a new process (was %d)", p.Pid(), pid)
	}
	if got := dial(t, p.Addr()).do("get k\r\n", "END"); len(got) != 1 {
		t.Errorf("get k after Restart = %q, want a miss: a restarted node is empty", got)
	}

	p.Stop()
	if !refused(p.Addr()) {
		t.Error("after Stop the port still accepts connections")
	}
	if _, err := os.Stat(p.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log directory %s after Stop: %v, want it removed", p.dir, err)
	}
	if err := p.Restart(); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("Restart after Stop = %v, want an error", err)
	}
	p.Stop() // idempotent
}

func TestLaunchPauseResume(t *testing.T) {
	t.Parallel()
	if stopSignal == nil {
		t.Skip("no SIGSTOP on this system")
	}
	p := launch(t, Options{})
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchStats(p.Addr(), 200*time.Millisecond); err == nil {
		t.Fatal("a paused memcached answered stats")
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stats(); err != nil {
		t.Fatalf("stats after Resume: %v", err)
	}
}

// TestLaunchReadyHook: a start waits for Options.Ready, on the process's
// own address, instead of the default probe; Restart uses it too.
func TestLaunchReadyHook(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	notYet := errors.New("not yet")
	p := launch(t, Options{Ready: func(addr string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, addr)
		if len(calls)%3 != 0 {
			return notYet // ready on every third call
		}
		return nil
	}})
	mu.Lock()
	n := len(calls)
	for _, a := range calls {
		if a != p.Addr() {
			t.Errorf("Ready called with %q, want %q", a, p.Addr())
		}
	}
	mu.Unlock()
	if n != 3 {
		t.Fatalf("Launch returned after %d Ready calls, want 3 (two errors, then nil)", n)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 6 {
		t.Errorf("Restart made %d Ready calls, want 3 more", len(calls)-3)
	}
}

func TestLaunchMissingBinary(t *testing.T) {
	// Not parallel: it changes PATH.
	t.Setenv("PATH", t.TempDir())
	p, err := Launch(Options{})
	if !errors.Is(err, ErrNoMemcached) || !strings.Contains(err.Error(), "apt-get install -y memcached") {
		t.Fatalf("Launch = %v, %v; want ErrNoMemcached with how to install it", p, err)
	}
}

func TestReadStatsRefused(t *testing.T) {
	t.Parallel()
	p := launch(t, Options{})
	addr := p.Addr()
	p.Kill()
	if _, err := ReadStats(addr); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("ReadStats of a killed node = %v, want an error naming %s", err, addr)
	}
}

// TestServerProcess: a Server's Process can be driven from another
// goroutine, where the Server's own methods must not fail the test.
func TestServerProcess(t *testing.T) {
	t.Parallel()
	if stopSignal == nil {
		t.Skip("no SIGSTOP on this system")
	}
	s := Start(t)
	p := s.Process()
	if p.Addr() != s.Addr() {
		t.Fatalf("Process().Addr() = %s, want %s", p.Addr(), s.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Pause() }()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := fetchStats(s.Addr(), 200*time.Millisecond); err == nil {
		t.Fatal("the server answered while its process was paused")
	}
	s.Resume()
	s.Stats()
}
