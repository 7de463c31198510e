package msmtest

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// setMany stores n items of size bytes, "k0" to "k<n-1>", on one
// pipelined connection.
func setMany(t *testing.T, addr string, n, size int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute)) // a deadline for a busy machine
	value := strings.Repeat("v", size)
	go func() {
		w := bufio.NewWriter(c)
		for i := range n {
			fmt.Fprintf(w, "set k%d 0 0 %d\r\n%s\r\n", i, size, value)
		}
		w.Flush()
	}()
	r := bufio.NewReader(c)
	for i := range n {
		line, err := readLine(r)
		if err != nil || line != "STORED" {
			t.Fatalf("set k%d: %q, %v", i, line, err)
		}
	}
}

func TestWarmRestartKeepsEveryItem(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MemoryFile: filepath.Join(t.TempDir(), "memory")})
	addr, pid := s.Addr(), s.Stats()["pid"]
	const items, size = 20000, 1024 // about the size of 20000 small sessions
	setMany(t, addr, items, size)

	for round := range 2 { // the second from a restored memcached
		began := time.Now()
		s.WarmRestart()
		t.Logf("warm restart %d with %d items of %d B: %v", round+1, items, size, time.Since(began).Round(time.Millisecond))
		if s.Addr() != addr {
			t.Fatalf("Addr() after WarmRestart = %q, want %q", s.Addr(), addr)
		}
		if got := s.Stats()["pid"]; got == pid {
			t.Fatalf("pid %s after WarmRestart: the same process", got)
		} else {
			pid = got
		}
		if n := s.Stat("curr_items"); n != items {
			t.Errorf("curr_items after warm restart %d = %d, want %d", round+1, n, items)
		}
		got := dial(t, addr).do("get k0 k19999\r\n", "END")
		if len(got) != 5 || got[1] != strings.Repeat("v", size) {
			t.Errorf("get after warm restart %d: %d lines, want both items", round+1, len(got))
		}
	}
}

func TestWarmRestartNeedsAMemoryFile(t *testing.T) {
	t.Parallel()
	s := Start(t)
	dial(t, s.Addr()).do("set k 0 0 1\r\nx\r\n", "STORED")
	err := s.Process().WarmRestart()
	if err == nil || !strings.Contains(err.Error(), "Options.MemoryFile") {
		t.Fatalf("WarmRestart without a memory file: %v, want an error naming Options.MemoryFile", err)
	}
	if got := dial(t, s.Addr()).do("get k\r\n", "END"); len(got) != 3 {
		t.Errorf("after the refused warm restart, get k = %q: memcached should be untouched", got)
	}
}

func TestWarmRestartOfAKilledServerFails(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MemoryFile: filepath.Join(t.TempDir(), "memory")})
	s.Kill()
	if err := s.Process().WarmRestart(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("WarmRestart of a killed server: %v, want an error saying it was killed", err)
	}
	s.Restart() // still usable
}

// Restart stays a cold restart with a memory file: memcached killed with
// SIGKILL writes no metadata, and starts empty.
func TestRestartWithAMemoryFileIsEmpty(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MemoryFile: filepath.Join(t.TempDir(), "memory")})
	dial(t, s.Addr()).do("set k 0 0 1\r\nx\r\n", "STORED")
	s.Restart()
	if n := s.Stat("curr_items"); n != 0 {
		t.Errorf("curr_items after Restart = %d, want 0", n)
	}
}

func TestMemoryFileOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"-m", "64"}, ""},
		{[]string{"-e", "/a"}, "/a"},
		{[]string{"-e/a"}, "/a"},
		{[]string{"--memory-file=/a"}, "/a"},
		{[]string{"--memory-file", "/a"}, "/a"},
		{[]string{"-e", "/a", "-e", "/b"}, "/b"},
	} {
		if got := memoryFileOf(c.args); got != c.want {
			t.Errorf("memoryFileOf(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
