package msmtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// conn is a raw memcached text protocol connection for the tests.
type conn struct {
	t testing.TB
	net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 20*time.Second) // a deadline for a busy machine
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, Conn: c, r: bufio.NewReader(c)}
}

// do sends req and reads reply lines until one equals last.
func (c *conn) do(req, last string) []string {
	c.t.Helper()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		c.t.Fatalf("send %q: %v", req, err)
	}
	var lines []string
	for {
		line, err := readLine(c.r)
		if err != nil {
			c.t.Fatalf("reply to %q: %v (so far %q)", req, err, lines)
		}
		lines = append(lines, line)
		if line == last {
			return lines
		}
	}
}

func TestStartAndKill(t *testing.T) {
	t.Parallel()
	s := Start(t)
	if want := "127.0.0.1:" + strconv.Itoa(s.Port()); s.Addr() != want {
		t.Errorf("Addr() = %q, want %q", s.Addr(), want)
	}
	if got := s.Stats()["version"]; !strings.HasPrefix(got, "1.") {
		t.Errorf("stats version = %q", got)
	}
	dial(t, s.Addr()).do("version\r\n", "VERSION "+s.Stats()["version"])

	s.Kill()
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s after Kill succeeded, want connection refused", s.Addr())
	}
	s.Kill() // idempotent
}

func TestRestart(t *testing.T) {
	t.Parallel()
	s := Start(t)
	addr := s.Addr()
	dial(t, addr).do("set k 0 0 1\r\nx\r\n", "STORED")

	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("Addr() after Restart = %q, want %q", s.Addr(), addr)
	}
	if got := dial(t, addr).do("get k\r\n", "END"); len(got) != 1 {
		t.Errorf("get k after Restart = %q, want a miss", got)
	}
	if n := s.Stat("curr_items"); n != 0 {
		t.Errorf("curr_items after Restart = %d, want 0", n)
	}

	s.Kill()
	s.Restart() // from killed
	dial(t, addr).do("set k 0 0 1\r\nx\r\n", "STORED")
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	if stopSignal == nil {
		t.Skip("no SIGSTOP on this system")
	}
	s := Start(t)
	s.Pause()
	c, err := net.DialTimeout("tcp", s.Addr(), 20*time.Second)
	if err != nil {
		t.Fatalf("dial paused server: %v (the kernel should still accept)", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	r := bufio.NewReader(c)
	_, err = r.ReadString('\n')
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Fatalf("read from paused server: err = %v, want a timeout", err)
	}

	s.Resume()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "STAT ") {
		t.Fatalf("read after Resume = %q, %v; want the stats that waited", line, err)
	}
	if s.Stats()["pid"] == "" {
		t.Error("no pid in stats after Resume")
	}
	s.Resume() // not paused: no effect
}

func TestKillPaused(t *testing.T) {
	t.Parallel()
	if stopSignal == nil {
		t.Skip("no SIGSTOP on this system")
	}
	s := Start(t)
	s.Pause()
	s.Kill()
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("dial after killing a paused server succeeded")
	}
	s.Restart()
	s.Stats()
}

func TestCountersOneSetOneGet(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := dial(t, s.Addr())
	before := s.Counters()
	c.do("set k 0 0 5\r\nhello\r\n", "STORED")
	c.do("get k\r\n", "END")
	d := s.Counters().Sub(before)
	want := Counters{Get: 1, Set: 1, GetHits: 1, CurrItems: 1, TotalItems: 1}
	if d != want {
		t.Errorf("delta = %+v, want %+v", d, want)
	}
	if n := s.Stat("cmd_set"); n != 1 {
		t.Errorf("cmd_set = %d, want 1", n)
	}
}

func TestCountersOtherCommands(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := dial(t, s.Addr())
	before := s.Counters()
	c.do("add k 0 0 1\r\nx\r\n", "STORED")
	c.do("add k 0 0 1\r\nx\r\n", "NOT_STORED")
	c.do("get k missing other\r\n", "END")
	c.do("touch k 100\r\n", "TOUCHED")
	c.do("cas k 0 0 1 12345\r\ny\r\n", "EXISTS")
	c.do("delete k\r\n", "DELETED")
	c.do("delete k\r\n", "NOT_FOUND")
	d := s.Counters().Sub(before)
	want := Counters{
		Get: 3, GetHits: 1, GetMisses: 2, // one per key
		Set:        3, // both adds and the cas
		Touch:      1,
		Delete:     2,
		CAS:        1,
		CurrItems:  0, // added, then deleted
		TotalItems: 1, // the first add
	}
	if d != want {
		t.Errorf("delta = %+v, want %+v", d, want)
	}
}

func TestCountersSubCurrItemsDown(t *testing.T) {
	d := Counters{CurrItems: 1}.Sub(Counters{CurrItems: 3})
	if int64(d.CurrItems) != -2 {
		t.Errorf("int64(CurrItems) = %d, want -2", int64(d.CurrItems))
	}
}

func TestFlush(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := dial(t, s.Addr())
	c.do("set k 0 0 1\r\nx\r\n", "STORED")
	s.Flush()
	if got := c.do("get k\r\n", "END"); len(got) != 1 {
		t.Errorf("get after Flush = %q, want a miss", got)
	}
	if n := s.Stat("cmd_flush"); n != 1 {
		t.Errorf("cmd_flush = %d, want 1", n)
	}
}

func TestOptionsAndLog(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MemoryMB: 16, MaxItemSize: "2m", Verbose: true, ExtraArgs: []string{"-t", "1"}})
	stats := s.Stats()
	if got := stats["limit_maxbytes"]; got != strconv.Itoa(16<<20) {
		t.Errorf("limit_maxbytes = %s, want 16 MB", got)
	}
	if got := stats["threads"]; got != "1" {
		t.Errorf("threads = %s, want 1 (ExtraArgs win)", got)
	}
	settings := dial(t, s.Addr()).do("stats settings\r\n", "END")
	if !slices.Contains(settings, "STAT item_size_max 2097152") {
		t.Errorf("stats settings has no item_size_max 2097152: %q", settings)
	}
	dial(t, s.Addr()).do("get some:key\r\n", "END")
	if log := s.Log(); !strings.Contains(log, " get some:key") {
		t.Errorf("Log() has no 'get some:key' line:\n%s", log)
	}
}

func TestStartN(t *testing.T) {
	t.Parallel()
	servers := StartN(t, 3)
	seen := map[int]bool{}
	for _, s := range servers {
		if seen[s.Port()] {
			t.Errorf("port %d used twice", s.Port())
		}
		seen[s.Port()] = true
		s.Stats()
	}
}

func TestStartRetriesBusyPort(t *testing.T) {
	t.Parallel()
	s := Start(t)
	// A second memcached on a port already in use fails with errPortBusy,
	// which is what makes Start pick another port.
	other := &Process{bin: s.p.bin, args: s.p.args, port: s.Port(), logPath: s.p.logPath + ".2"}
	err := other.start()
	if !errors.Is(err, errPortBusy) {
		other.Kill()
		t.Fatalf("start on a busy port: err = %v, want errPortBusy", err)
	}
	s.Stats() // the first one is unharmed
}

// missingTB records Skipf and Fatalf instead of ending the test.
type missingTB struct {
	testing.TB
	skipped, failed string
}

func (m *missingTB) Helper() {}
func (m *missingTB) Skipf(format string, args ...any) {
	m.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (m *missingTB) Fatalf(format string, args ...any) {
	m.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinary(t *testing.T) {
	// Not parallel: it changes PATH and CI.
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		m := &missingTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(m)
		}()
		<-done
		got := m.skipped
		if ci != "" {
			got = m.failed
		}
		if !strings.Contains(got, "memcached not found in PATH") || !strings.Contains(got, "apt-get install -y memcached") {
			t.Errorf("CI=%q: skipped %q, failed %q", ci, m.skipped, m.failed)
		}
	}
}
