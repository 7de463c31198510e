package msmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sysProcAttr makes the kernel kill memcached when the test binary dies
// without running its cleanups (a panic, or go test's -timeout), so that no
// orphan keeps a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits until the kernel reports the process as stopped, so
// that Pause returns only once memcached can no longer answer.
func waitStopped(pid int) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		// The state follows the command name, which is in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// listening reports whether process pid has a listening TCP socket on
// 127.0.0.1:port. Start asks before it sends memcached anything: with
// several test processes at once, another process may have taken the port
// between the free-port probe and memcached's bind (memcached then exits on
// its bind error), and a probe sent to that port would land in the other
// process's server.
func listening(pid, port int) bool {
	want := fmt.Sprintf("0100007F:%04X", port)
	inodes := map[string]bool{}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return true // no way to tell: probe as before
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// local_address, rem_address, st (0A: LISTEN), ..., inode (10th)
		if len(fields) > 9 && fields[1] == want && fields[3] == "0A" {
			inodes["socket:["+fields[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	fds, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
	if err != nil {
		return true
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && inodes[target] {
			return true
		}
	}
	return false
}
