package nodes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Identity tells a memcached process and its contents apart.
type Identity struct {
	started int64  // server time - uptime, in seconds
	pid     string // the process id
	flushes uint64 // cmd_flush: flush_all commands received
}

// EmptiedSince reports whether a node that was was has lost its items
// since: it restarted (another start time or pid) or was flushed. The
// start time is computed from two whole seconds, hence the slack.
func (now Identity) EmptiedSince(was Identity) bool {
	d := now.started - was.started
	return d > 2 || d < -2 || now.pid != was.pid || now.flushes != was.flushes
}

// DialFunc opens a connection to a memcached as the node set's clients
// do (TLS, authentication: see core/internal/mcdial); nil dials plain TCP.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// FetchIdentity asks the memcached at addr, on a connection of its own
// opened with dial, when its process started and how often it was flushed.
func FetchIdentity(addr string, timeout time.Duration, dial DialFunc) (Identity, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return Identity{}, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return Identity{}, err
	}
	if _, err := conn.Write([]byte("stats\r\n")); err != nil {
		return Identity{}, err
	}
	return readIdentity(bufio.NewReader(conn), addr)
}

// readIdentity reads the answer to "stats" up to its END line.
func readIdentity(r *bufio.Reader, addr string) (Identity, error) {
	var id Identity
	var now, uptime int64
	var seen int
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return id, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "END" {
			break
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "STAT" {
			return id, fmt.Errorf("core: stats from %s: unexpected line %.40q", addr, line)
		}
		switch f[1] {
		case "pid":
			id.pid = f[2]
			seen++
		case "time":
			now, err = strconv.ParseInt(f[2], 10, 64)
			seen++
		case "uptime":
			uptime, err = strconv.ParseInt(f[2], 10, 64)
			seen++
		case "cmd_flush":
			id.flushes, err = strconv.ParseUint(f[2], 10, 64)
			seen++
		}
		if err != nil {
			return id, fmt.Errorf("core: stats from %s: %s: %w", addr, f[1], err)
		}
	}
	if seen != 4 {
		return id, errors.New("core: stats from " + addr + ": pid, time, uptime or cmd_flush missing")
	}
	id.started = now - uptime
	return id, nil
}
