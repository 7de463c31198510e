package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gomsm/msm/core/msmtest"
)

// memcached is one memcached node that the demo starts, kills with
// SIGKILL (kill -9) and restarts, empty, on the same port.
type memcached struct {
	id string // node id, "n1"
	*msmtest.Process
}

// startMemcached starts memcached as node id on a free loopback port and
// waits until it answers. Without memcached in PATH the error wraps
// msmtest.ErrNoMemcached and says how to install it.
func startMemcached(id string) (*memcached, error) {
	p, err := msmtest.Launch(msmtest.Options{})
	if err != nil {
		return nil, fmt.Errorf("memcached %s: %w", id, err)
	}
	return &memcached{id: id, Process: p}, nil
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
