package msmtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// readyTimeout bounds how long a start waits for memcached to answer:
	// generous, since a busy machine (several suites at once) can take
	// seconds to schedule a fresh process.
	readyTimeout = 20 * time.Second
	// startAttempts is how many free ports Start tries when another process
	// takes the chosen one between the probe and memcached's bind.
	startAttempts = 5
	// installHint is how to get the memcached binary.
	installHint = "install it (apt-get install -y memcached / brew install memcached)"
)

// errPortBusy reports that memcached could not bind its port.
var errPortBusy = errors.New("port already in use")

// Options configures a memcached started by [Start] or [StartN]. The zero
// value gives the defaults described on [Start].
type Options struct {
	// MemoryMB is the item memory in megabytes (memcached -m). Default 64.
	MemoryMB int
	// MaxItemSize is the largest item memcached accepts, in memcached's
	// syntax: "1m", "512k", "2m" (memcached -I). Default: memcached's own,
	// 1m.
	MaxItemSize string
	// Verbose runs memcached with -vv, which writes every command line it
	// receives to stderr ("<17 get key"); read it with [Server.Log].
	Verbose bool
	// ExtraArgs are appended to the command line after the defaults, so
	// they win for flags given twice (for example "-t", "4").
	ExtraArgs []string
}

// Server is one memcached process on a free loopback port, started by a
// test and killed when the test ends. Its methods are safe for concurrent
// use, except that those that fail the test must run on the test's
// goroutine.
type Server struct {
	t       testing.TB
	bin     string
	args    []string // everything but -l and -p
	port    int
	logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while killed
	done chan struct{} // closed when cmd has exited
}

// Start starts one memcached on 127.0.0.1 and a free port, waits until it
// answers (at most 20 s), and registers a cleanup on t that kills it. At most
// one Options may be given.
//
// memcached runs with -U 0 (no UDP), -m 64 and -t 2 unless opts say
// otherwise, and with -u root when the test runs as root, which memcached
// otherwise refuses. When memcached is not in PATH, Start skips the test,
// or fails it if the CI environment variable is set.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	bin := lookMemcached(t)
	if len(opts) > 1 {
		t.Fatalf("msmtest: Start takes at most one Options, got %d", len(opts))
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	s := &Server{
		t:       t,
		bin:     bin,
		args:    memcachedArgs(o),
		logPath: filepath.Join(t.TempDir(), "memcached.log"),
	}
	t.Cleanup(s.Kill)
	var errs []error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("msmtest: find a free port: %v", err)
		}
		s.port = port
		err = s.start()
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortBusy) {
			t.Fatalf("msmtest: start memcached: %v", err)
		}
		errs = append(errs, err)
	}
	t.Fatalf("msmtest: start memcached: %v", errors.Join(errs...))
	return nil
}

// StartN starts n memcached servers, each on its own port, with the same
// options. See [Start].
func StartN(t testing.TB, n int, opts ...Options) []*Server {
	t.Helper()
	servers := make([]*Server, n)
	for i := range servers {
		servers[i] = Start(t, opts...)
	}
	return servers
}

// Addr returns the server's address, "127.0.0.1:PORT". It stays the same
// across [Server.Restart].
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port returns the server's TCP port.
func (s *Server) Port() int {
	return s.port
}

// Kill kills memcached with SIGKILL and waits until it has exited, so that
// the port refuses connections when Kill returns and everything memcached
// stored is lost. Killing a killed server does nothing. Kill also works on
// a paused server.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

// Restart starts a fresh, empty memcached on the same port, killing the
// current one first if it still runs, and waits until it answers. If the
// port is briefly busy, Restart retries for up to 20 s, then fails the test.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	deadline := time.Now().Add(readyTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errPortBusy) || time.Now().After(deadline) {
			s.t.Fatalf("msmtest: restart memcached on %s: %v", s.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pause stops memcached with SIGSTOP. The kernel still accepts
// connections to its port and buffers what clients send, but nothing is
// answered until [Server.Resume]: to a client, the node hangs. Pause fails
// the test if the server is killed, or on a system without SIGSTOP.
func (s *Server) Pause() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signalLocked("pause", stopSignal)
	waitStopped(s.cmd.Process.Pid)
}

// Resume continues a paused memcached with SIGCONT; it then answers the
// requests that waited in the meantime. Resuming a server that is not
// paused does nothing to it. Resume fails the test if the server is killed.
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signalLocked("resume", contSignal)
}

// Log returns what memcached wrote to stderr and stdout since [Start],
// across restarts. With [Options.Verbose], it holds a line for every
// command received, such as "<17 get mykey", written before memcached
// answers: once a client has its reply, the command is in the log.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	return string(b)
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

func (s *Server) signalLocked(verb string, sig os.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("msmtest: %s memcached on %s: it was killed", verb, s.Addr())
	}
	if sig == nil {
		s.t.Fatalf("msmtest: %s memcached: not supported on this system", verb)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("msmtest: %s memcached on %s: %v", verb, s.Addr(), err)
	}
}

// start runs memcached on s.port and waits until it answers. It returns an
// error wrapping errPortBusy when the port was taken.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	logStart, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		logf.Close()
		return err
	}
	args := append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(s.port)}, s.args...)
	cmd := exec.Command(s.bin, args...)
	// A file rather than a pipe: memcached writes it synchronously, so the
	// log is complete as soon as a reply arrives.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	logf.Close() // memcached has its own descriptor
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	if err := waitReady(s.Addr(), s.port, cmd.Process.Pid, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		out := s.logSince(logStart)
		if strings.Contains(out, "Address already in use") {
			return fmt.Errorf("%s: %w", s.Addr(), errPortBusy)
		}
		return fmt.Errorf("%s %s: %v\n%s", s.bin, strings.Join(args, " "), err, out)
	}
	s.cmd, s.done = cmd, done
	return nil
}

// logSince returns the log written from offset on.
func (s *Server) logSince(offset int64) string {
	log := s.Log()
	if offset > int64(len(log)) {
		return ""
	}
	return strings.TrimSpace(log[offset:])
}

// waitReady waits until the memcached with the given pid answers stats on
// addr (port is its port). Checking the pid matters: another test's
// memcached may hold the port, and then ours exits on its bind error; on
// Linux nothing is sent until the process is seen listening on the port,
// so another process's server on it never receives our probe.
func waitReady(addr string, port, pid int, done <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			return errors.New("memcached exited")
		default:
		}
		if !listening(pid, port) {
			// Not bound yet, or another process holds the port: send
			// nothing there.
		} else if stats, err := fetchStats(addr, 500*time.Millisecond); err == nil && stats["pid"] == strconv.Itoa(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("memcached did not answer on %s within %v", addr, readyTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lookMemcached finds the memcached binary, or skips or fails the test.
func lookMemcached(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("memcached not found in PATH (CI is set, so this is an error, not a skip): %s", installHint)
	}
	t.Skipf("memcached not found in PATH: %s", installHint)
	return ""
}

// memcachedArgs turns Options into memcached flags, without -l and -p.
func memcachedArgs(o Options) []string {
	mem := o.MemoryMB
	if mem <= 0 {
		mem = 64
	}
	args := []string{"-U", "0", "-m", strconv.Itoa(mem), "-t", "2"}
	if o.MaxItemSize != "" {
		args = append(args, "-I", o.MaxItemSize)
	}
	if o.Verbose {
		args = append(args, "-vv")
	}
	if os.Geteuid() == 0 && !slices.Contains(o.ExtraArgs, "-u") {
		args = append(args, "-u", "root")
	}
	return append(args, o.ExtraArgs...)
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// may take it before memcached binds it; start detects that and Start
// tries another port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
