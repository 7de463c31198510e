package msmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsm/msm/core/internal/mcdial"
)

// ErrNoNutcracker is returned (wrapped) by [LaunchNutcracker] when the
// nutcracker (twemproxy) binary is not installed.
var ErrNoNutcracker = errors.New("nutcracker (twemproxy) not found in PATH or /usr/sbin")

// DefaultNutcrackerConfig is the pool [LaunchNutcracker] runs when given
// none: ketama over the servers, a dead server ejected after one failure.
const DefaultNutcrackerConfig = `gomsm:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  server_failure_limit: 1
  server_retry_timeout: 2000
  timeout: 1000
  redis: false
  servers:
   - 127.0.0.1:11211:1
`

// Nutcracker is a twemproxy (nutcracker) process on a free loopback port
// in front of memcached servers: to a client it is one memcached.
type Nutcracker struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	once sync.Once
}

// LaunchNutcracker starts nutcracker in front of servers ("host:port"
// each) with the one pool of config (a nutcracker YAML; "" for
// [DefaultNutcrackerConfig]), whose listen address and server list are
// replaced by a free loopback port and servers. It waits until the proxy
// answers "version" through a server. Stop it with [Nutcracker.Stop].
func LaunchNutcracker(config string, servers []string) (*Nutcracker, error) {
	bin, err := exec.LookPath("nutcracker")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nutcracker"); serr != nil {
			return nil, fmt.Errorf("%w: install it (apt-get install -y nutcracker)", ErrNoNutcracker)
		}
		bin = "/usr/sbin/nutcracker"
	}
	if config == "" {
		config = DefaultNutcrackerConfig
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	statsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "msmtest-nutcracker-")
	if err != nil {
		return nil, err
	}
	nc := &Nutcracker{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir}
	conf := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(conf, []byte(rewritePool(config, nc.addr, servers)), 0o600); err != nil {
		nc.Stop()
		return nil, err
	}
	logPath := filepath.Join(dir, "nutcracker.log")
	nc.cmd = exec.Command(bin, "-c", conf, "-s", strconv.Itoa(statsPort), "-p", filepath.Join(dir, "pid"), "-o", logPath)
	nc.cmd.SysProcAttr = sysProcAttr()
	if err := nc.cmd.Start(); err != nil {
		nc.Stop()
		return nil, err
	}
	if err := waitProxyReady(nc.addr); err != nil {
		log, _ := os.ReadFile(logPath)
		nc.Stop()
		return nil, fmt.Errorf("nutcracker on %s: %w\n%s", nc.addr, err, log)
	}
	return nc, nil
}

// StartNutcracker is [LaunchNutcracker] for a test: it stops the proxy
// when the test ends, and skips the test without nutcracker, or fails it
// when the CI environment variable is set.
func StartNutcracker(t testing.TB, config string, servers ...*Server) *Nutcracker {
	t.Helper()
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr())
	}
	nc, err := LaunchNutcracker(config, addrs)
	switch {
	case errors.Is(err, ErrNoNutcracker) && os.Getenv("CI") != "":
		t.Fatalf("%v (CI is set, so this is an error, not a skip)", err)
	case errors.Is(err, ErrNoNutcracker):
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(nc.Stop)
	return nc
}

// Addr is the proxy's "127.0.0.1:PORT", what a client puts in its node list.
func (nc *Nutcracker) Addr() string { return nc.addr }

// Stop kills the proxy and removes its files.
func (nc *Nutcracker) Stop() {
	nc.once.Do(func() {
		if nc.cmd != nil && nc.cmd.Process != nil {
			_ = nc.cmd.Process.Kill()
			_ = nc.cmd.Wait()
		}
		os.RemoveAll(nc.dir)
	})
}

// rewritePool returns config with its listen line set to listen and its
// server list replaced by servers (weight 1 each).
func rewritePool(config, listen string, servers []string) string {
	var out []string
	inServers := false
	for _, line := range strings.Split(config, "\n") {
		trimmed := strings.TrimSpace(line)
		indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
		switch {
		case inServers && strings.HasPrefix(trimmed, "- "):
			continue // an old server line
		case strings.HasPrefix(trimmed, "listen:"):
			line = indent + "listen: " + listen
		}
		inServers = false
		out = append(out, line)
		if strings.HasPrefix(trimmed, "servers:") {
			inServers = true
			for _, s := range servers {
				out = append(out, indent+" - "+s+":1")
			}
		}
	}
	return strings.Join(out, "\n")
}

// waitProxyReady waits until a "version" sent to the proxy is answered.
func waitProxyReady(addr string) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if last = linkReady(&mcdial.Dialer{}, addr); last == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not an assertion
	}
	return fmt.Errorf("not ready within %v: %w", readyTimeout, last)
}
