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
	"time"
)

const (
	// readyTimeout bounds how long a start waits for memcached to answer:
	// generous, since a busy machine (several suites at once) can take
	// seconds to schedule a fresh process.
	readyTimeout = 20 * time.Second
	// startAttempts is how many free ports Launch tries when another
	// process takes the chosen one between the probe and memcached's bind.
	startAttempts = 5
	// installHint is how to get the memcached binary.
	installHint = "install it (apt-get install -y memcached / brew install memcached)"
)

// ErrNoMemcached reports that the memcached binary is not in PATH. The
// error [Launch] returns wraps it and says how to install memcached.
var ErrNoMemcached = errors.New("memcached not found in PATH")

// errPortBusy reports that memcached could not bind its port.
var errPortBusy = errors.New("port already in use")

// Process is one memcached process on a free loopback port, started by
// [Launch] without a test: for load programs, demos and test helpers that
// report errors themselves. [Start] wraps one for tests. Its methods are
// safe for concurrent use. Call [Process.Stop] when done; on Linux the
// kernel also kills memcached when the program that launched it dies.
type Process struct {
	bin     string
	args    []string // everything but -l and -p
	ready   func(addr string) error
	port    int
	dir     string // holds the log; removed by Stop
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd     // nil while killed
	done    chan struct{} // closed when cmd has exited
	stopped bool
}

// Launch starts one memcached on 127.0.0.1 and a free port with the flags
// that o gives (see [Start] for the defaults) and waits, at most 20 s,
// until it is ready: until o.Ready returns nil or, without it, until it
// answers "stats" with its own pid. It tries another port when another
// process takes the chosen one first. When memcached is not in PATH, the
// error wraps [ErrNoMemcached].
func Launch(o Options) (*Process, error) {
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoMemcached, installHint)
	}
	dir, err := os.MkdirTemp("", "msmtest-memcached-")
	if err != nil {
		return nil, err
	}
	p := &Process{
		bin:     bin,
		args:    memcachedArgs(o),
		ready:   o.Ready,
		dir:     dir,
		logPath: filepath.Join(dir, "memcached.log"),
	}
	var errs []error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			p.Stop()
			return nil, fmt.Errorf("msmtest: find a free port: %w", err)
		}
		p.port = port
		err = p.start()
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errPortBusy) {
			break
		}
	}
	p.Stop()
	return nil, fmt.Errorf("msmtest: start memcached: %w", errors.Join(errs...))
}

// Addr returns the process's address, "127.0.0.1:PORT". It stays the same
// across [Process.Restart].
func (p *Process) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
}

// Port returns the process's TCP port.
func (p *Process) Port() int {
	return p.port
}

// Pid returns the process id of the running memcached, 0 while it is
// killed.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill kills memcached with SIGKILL and waits until it has exited, so that
// the port refuses connections when Kill returns and everything memcached
// stored is lost. Killing a killed process does nothing. Kill also works
// on a paused process.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killLocked()
}

// Stop kills memcached like [Process.Kill] and removes its log. A stopped
// process cannot be restarted; stopping it again does nothing.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killLocked()
	if !p.stopped {
		p.stopped = true
		_ = os.RemoveAll(p.dir)
	}
}

// Restart starts a fresh, empty memcached on the same port, killing the
// current one first if it still runs, and waits until it is ready. If the
// port is briefly busy, Restart retries for up to 20 s.
func (p *Process) Restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return fmt.Errorf("msmtest: restart memcached on %s: it was stopped", p.Addr())
	}
	p.killLocked()
	return p.startAgainLocked("restart")
}

// startAgainLocked starts memcached again on p.port, retrying for up to
// 20 s while the port is briefly busy; verb names the operation in the
// error.
func (p *Process) startAgainLocked(verb string) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := p.start()
		if err == nil {
			return nil
		}
		if !errors.Is(err, errPortBusy) || time.Now().After(deadline) {
			return fmt.Errorf("msmtest: %s memcached on %s: %w", verb, p.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond) // the port's previous owner is going away
	}
}

// Pause stops memcached with SIGSTOP and returns once the kernel reports
// it stopped. The kernel still accepts connections to its port and
// buffers what clients send, but nothing is answered until
// [Process.Resume]: to a client, the node hangs. Pause fails if the
// process is killed, or on a system without SIGSTOP.
func (p *Process) Pause() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.signalLocked("pause", stopSignal); err != nil {
		return err
	}
	waitStopped(p.cmd.Process.Pid)
	return nil
}

// Resume continues a paused memcached with SIGCONT; it then answers the
// requests that waited in the meantime. Resuming a process that is not
// paused does nothing to it. Resume fails if the process is killed.
func (p *Process) Resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signalLocked("resume", contSignal)
}

// Log returns what memcached wrote to stderr and stdout since [Launch],
// across restarts, until [Process.Stop]. With [Options.Verbose], it holds
// a line for every command received, such as "<17 get mykey", written
// before memcached answers: once a client has its reply, the command is
// in the log.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// Stats returns the output of memcached's "stats" command, as
// [ReadStats] reads it from [Process.Addr].
func (p *Process) Stats() (map[string]string, error) {
	return ReadStats(p.Addr())
}

func (p *Process) killLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd, p.done = nil, nil
}

func (p *Process) signalLocked(verb string, sig os.Signal) error {
	if p.cmd == nil {
		return fmt.Errorf("msmtest: %s memcached on %s: it was killed", verb, p.Addr())
	}
	if sig == nil {
		return fmt.Errorf("msmtest: %s memcached: not supported on this system", verb)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("msmtest: %s memcached on %s: %w", verb, p.Addr(), err)
	}
	return nil
}

// start runs memcached on p.port and waits until it is ready. It returns
// an error wrapping errPortBusy when the port was taken.
func (p *Process) start() error {
	logf, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	logStart, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		logf.Close()
		return err
	}
	args := append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(p.port)}, p.args...)
	cmd := exec.Command(p.bin, args...)
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
	if err := p.waitReady(cmd.Process.Pid, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		out := p.logSince(logStart)
		if strings.Contains(out, "Address already in use") {
			return fmt.Errorf("%s: %w", p.Addr(), errPortBusy)
		}
		return fmt.Errorf("%s %s: %v\n%s", p.bin, strings.Join(args, " "), err, out)
	}
	p.cmd, p.done = cmd, done
	return nil
}

// logSince returns the log written from offset on.
func (p *Process) logSince(offset int64) string {
	log := p.Log()
	if offset > int64(len(log)) {
		return ""
	}
	return strings.TrimSpace(log[offset:])
}

// waitReady waits until the memcached with the given pid is ready on
// p.Addr(). Checking the pid matters: another test's memcached may hold
// the port, and then ours exits on its bind error; on Linux nothing is
// sent until the process is seen listening on the port, so another
// process's server on it never receives our probe, whichever probe runs.
func (p *Process) waitReady(pid int, done <-chan struct{}) error {
	ready := p.ready
	if ready == nil {
		ready = func(addr string) error { return statsReady(addr, pid) }
	}
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		select {
		case <-done:
			return errors.New("memcached exited")
		default:
		}
		if !listening(pid, p.port) {
			// Not bound yet, or another process holds the port: send
			// nothing there.
		} else if last = ready(p.Addr()); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("memcached was not ready on %s within %v: %w", p.Addr(), readyTimeout, last)
			}
			return fmt.Errorf("memcached did not listen on %s within %v", p.Addr(), readyTimeout)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not an assertion
	}
}

// statsReady is the default readiness probe: memcached on addr answers
// "stats", and it is the process with the given pid.
func statsReady(addr string, pid int) error {
	stats, err := fetchStats(addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	if got := stats["pid"]; got != strconv.Itoa(pid) {
		return fmt.Errorf("stats on %s come from pid %s, not %d", addr, got, pid)
	}
	return nil
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
	if o.MemoryFile != "" {
		args = append(args, "-e", o.MemoryFile)
	}
	if os.Geteuid() == 0 && !slices.Contains(o.ExtraArgs, "-u") {
		args = append(args, "-u", "root")
	}
	return append(args, o.ExtraArgs...)
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// may take it before memcached binds it; start detects that and Launch
// tries another port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
