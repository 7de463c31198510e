package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// installHint says how to get memcached when it is not in PATH.
const installHint = "install memcached: apt-get install -y memcached (Debian/Ubuntu), brew install memcached (macOS)"

// errNoMemcached means the memcached binary is not in PATH.
var errNoMemcached = errors.New("memcached not found in PATH")

// memcached is one memcached process on a loopback port that the demo
// starts, kills with SIGKILL and restarts on the same port. (core/msmtest
// does the same for tests, but needs a testing.TB.)
type memcached struct {
	id   string // node id, "n1"
	bin  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *lockedBuffer // what memcached printed, for error messages
}

// startMemcached starts memcached as node id on a free loopback port and
// waits until it answers.
func startMemcached(id string) (*memcached, error) {
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return nil, fmt.Errorf("%w: %s", errNoMemcached, installHint)
	}
	var errs []error
	for range 5 { // another process may take the port between probe and bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		mc := &memcached{id: id, bin: bin, port: port}
		if err := mc.start(); err != nil {
			errs = append(errs, err)
			continue
		}
		return mc, nil
	}
	return nil, fmt.Errorf("start memcached %s: %w", id, errors.Join(errs...))
}

// Addr is "127.0.0.1:PORT"; it stays the same across restarts.
func (mc *memcached) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(mc.port))
}

func (mc *memcached) start() error {
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(mc.port), "-U", "0", "-m", "64", "-t", "2"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // memcached refuses to run as root otherwise
	}
	cmd := exec.Command(mc.bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", mc.Addr(), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-done:
			return fmt.Errorf("memcached on %s exited: %s", mc.Addr(), strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("memcached on %s did not answer within 5s", mc.Addr())
		}
	}
	mc.mu.Lock()
	mc.cmd, mc.done, mc.out = cmd, done, out
	mc.mu.Unlock()
	return nil
}

// Kill kills memcached with SIGKILL (kill -9) and waits until it is gone:
// its port refuses connections and everything it stored is lost.
func (mc *memcached) Kill() {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.cmd == nil {
		return
	}
	_ = mc.cmd.Process.Kill()
	<-mc.done
	mc.cmd, mc.done = nil, nil
}

// Restart starts a fresh, empty memcached on the same port.
func (mc *memcached) Restart() error {
	mc.Kill()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = mc.start(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("restart memcached %s on %s: %w", mc.id, mc.Addr(), err)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// pid is the process id of the running memcached, 0 while killed.
func (mc *memcached) pid() int {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.cmd == nil {
		return 0
	}
	return mc.cmd.Process.Pid
}

// peek asks the memcached at addr for key with the text protocol and
// returns the size of its value: evidence, straight from the node, of where
// a session is stored.
func peek(addr, key string) (size int, found bool, err error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(conn, "get %s\r\n", key); err != nil {
		return 0, false, err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, false, err
	}
	// "VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n", or "END\r\n".
	f := strings.Fields(line)
	switch {
	case len(f) == 1 && f[0] == "END":
		return 0, false, nil
	case len(f) == 4 && f[0] == "VALUE":
		n, err := strconv.Atoi(f[3])
		return n, err == nil, err
	}
	return 0, false, fmt.Errorf("memcached %s: unexpected answer %q", addr, strings.TrimSpace(line))
}
