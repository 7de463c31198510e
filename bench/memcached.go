package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// memcachedProc is one memcached process on a free loopback port, started
// by the load program (msmtest.Start needs a testing.TB; the tests use it).
type memcachedProc struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startMemcached starts memcached on 127.0.0.1 with memMB of item memory
// and waits until it answers.
func startMemcached(memMB int) (*memcachedProc, error) {
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return nil, fmt.Errorf("memcached not found in PATH (apt-get install -y memcached): %w", err)
	}
	var errs []error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", strconv.Itoa(memMB), "-t", "2"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root")
		}
		cmd := exec.Command(bin, args...)
		// The kernel kills memcached if this program dies without stopping it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		p := &memcachedProc{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		if err := p.waitReady(cmd.Process.Pid); err == nil {
			return p, nil
		} else {
			errs = append(errs, err)
		}
		p.stop()
	}
	return nil, fmt.Errorf("start memcached: %w", errors.Join(errs...))
}

// waitReady waits (at most 5 s) until this memcached, not another process
// on the same port, answers stats.
func (p *memcachedProc) waitReady(pid int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("memcached on %s exited", p.addr)
		default:
		}
		if st, err := fetchStats(p.addr); err == nil && st["pid"] == strconv.Itoa(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("memcached did not answer on %s", p.addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop kills memcached and waits until it has exited.
func (p *memcachedProc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// fetchStats runs memcached's "stats" on a fresh connection to addr.
func fetchStats(addr string) (map[string]string, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		return nil, err
	}
	stats := map[string]string{}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "END" {
			return stats, nil
		}
		rest, ok := strings.CutPrefix(line, "STAT ")
		if !ok {
			return nil, fmt.Errorf("stats from %s: unexpected reply %q", addr, line)
		}
		name, value, _ := strings.Cut(rest, " ")
		stats[name] = value
	}
}

// mcOps counts memcached commands as memcached itself counts them. Every
// key of a get, gets, set, add, cas, touch, gat or delete is one operation;
// gomsm and the stores compared here send one key per command, so an
// operation is one round trip.
type mcOps struct {
	Get, Set, Touch, Delete uint64
	// CPU is the CPU time memcached used (rusage_user + rusage_system).
	CPU time.Duration
}

// Total is the number of operations.
func (o mcOps) Total() uint64 { return o.Get + o.Set + o.Touch + o.Delete }

func (o mcOps) sub(old mcOps) mcOps {
	return mcOps{Get: o.Get - old.Get, Set: o.Set - old.Set, Touch: o.Touch - old.Touch, Delete: o.Delete - old.Delete, CPU: o.CPU - old.CPU}
}

func (o mcOps) add(x mcOps) mcOps {
	return mcOps{Get: o.Get + x.Get, Set: o.Set + x.Set, Touch: o.Touch + x.Touch, Delete: o.Delete + x.Delete, CPU: o.CPU + x.CPU}
}

// readOps sums the operation counters of every server in addrs: cmd_get
// (get, gets), cmd_set (set, add, cas, ...), cmd_touch (touch, gat) and
// delete_hits + delete_misses.
func readOps(addrs []string) (mcOps, error) {
	var total mcOps
	for _, a := range addrs {
		st, err := fetchStats(a)
		if err != nil {
			return mcOps{}, err
		}
		n := func(name string) uint64 {
			v, _ := strconv.ParseUint(st[name], 10, 64)
			return v
		}
		secs := func(name string) time.Duration {
			v, _ := strconv.ParseFloat(st[name], 64)
			return time.Duration(v * float64(time.Second))
		}
		total = total.add(mcOps{
			Get: n("cmd_get"), Set: n("cmd_set"), Touch: n("cmd_touch"),
			Delete: n("delete_hits") + n("delete_misses"),
			CPU:    secs("rusage_user") + secs("rusage_system"),
		})
	}
	return total, nil
}

// memcachedVersion returns the version memcached reports, "" if unknown.
func memcachedVersion(addr string) string {
	st, err := fetchStats(addr)
	if err != nil {
		return ""
	}
	return st["version"]
}
