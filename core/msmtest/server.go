package msmtest

import (
	"errors"
	"os"
	"testing"
)

// Options configures a memcached started by [Start], [StartN] or
// [Launch]. The zero value gives the defaults described on [Start].
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
	// MemoryFile is the path of memcached's memory file (memcached -e):
	// items live in that file, so that [Process.WarmRestart] can stop
	// memcached and start it again with every item. The file is MemoryMB
	// large: put it in t.TempDir() or on a tmpfs. Default: none, items
	// live in memcached's heap and every restart is empty.
	MemoryFile string
	// ExtraArgs are appended to the command line after the defaults, so
	// they win for flags given twice (for example "-t", "4").
	ExtraArgs []string
	// Ready reports whether the memcached on addr ("127.0.0.1:PORT") is
	// ready: nil once it is. A start calls it every few milliseconds, and
	// on Linux only once the new process itself listens on the port, until
	// it returns nil, memcached exits, or 20 s have passed. Set it when the
	// default cannot tell, for example for a server that speaks TLS (-Z)
	// or wants authentication (-Y). Default: memcached answers a plaintext
	// "stats" with the new process's pid.
	Ready func(addr string) error
}

// Server is one memcached process on a free loopback port, started by a
// test and killed when the test ends: a [Process] whose methods report
// failures to the test. Its methods are safe for concurrent use, except
// that those that fail the test must run on the test's goroutine.
type Server struct {
	t testing.TB
	p *Process
}

// Start starts one memcached on 127.0.0.1 and a free port, waits until it
// answers (at most 20 s), and registers a cleanup on t that stops it. At
// most one Options may be given.
//
// memcached runs with -U 0 (no UDP), -m 64 and -t 2 unless opts say
// otherwise, and with -u root when the test runs as root, which memcached
// otherwise refuses. When memcached is not in PATH, Start skips the test,
// or fails it if the CI environment variable is set.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	if len(opts) > 1 {
		t.Fatalf("msmtest: Start takes at most one Options, got %d", len(opts))
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	p, err := Launch(o)
	switch {
	case errors.Is(err, ErrNoMemcached) && os.Getenv("CI") != "":
		t.Fatalf("%s (CI is set, so this is an error, not a skip): %s", ErrNoMemcached, installHint)
	case errors.Is(err, ErrNoMemcached):
		t.Skipf("%s: %s", ErrNoMemcached, installHint)
	case err != nil:
		t.Fatalf("%v", err)
	}
	t.Cleanup(p.Stop)
	return &Server{t: t, p: p}
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

// Process returns the process behind s, for code that reports errors
// itself instead of failing the test.
func (s *Server) Process() *Process {
	return s.p
}

// Addr returns the server's address, "127.0.0.1:PORT". It stays the same
// across [Server.Restart].
func (s *Server) Addr() string {
	return s.p.Addr()
}

// Port returns the server's TCP port.
func (s *Server) Port() int {
	return s.p.Port()
}

// Kill kills memcached with SIGKILL and waits until it has exited, so that
// the port refuses connections when Kill returns and everything memcached
// stored is lost. Killing a killed server does nothing. Kill also works on
// a paused server.
func (s *Server) Kill() {
	s.p.Kill()
}

// Restart starts a fresh, empty memcached on the same port, killing the
// current one first if it still runs, and waits until it answers. If the
// port is briefly busy, Restart retries for up to 20 s, then fails the test.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.p.Restart(); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// Pause stops memcached with SIGSTOP. The kernel still accepts
// connections to its port and buffers what clients send, but nothing is
// answered until [Server.Resume]: to a client, the node hangs. Pause fails
// the test if the server is killed, or on a system without SIGSTOP.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.p.Pause(); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// Resume continues a paused memcached with SIGCONT; it then answers the
// requests that waited in the meantime. Resuming a server that is not
// paused does nothing to it. Resume fails the test if the server is killed.
func (s *Server) Resume() {
	s.t.Helper()
	if err := s.p.Resume(); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// Log returns what memcached wrote to stderr and stdout since [Start],
// across restarts. With [Options.Verbose], it holds a line for every
// command received, such as "<17 get mykey", written before memcached
// answers: once a client has its reply, the command is in the log.
func (s *Server) Log() string {
	return s.p.Log()
}
