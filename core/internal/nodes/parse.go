package nodes

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Spec is one memcached server as configured: core exports it as Node.
type Spec struct {
	// ID is the short id carried in session ids ("n1"); empty for a single
	// node configured without id.
	ID string
	// Addr is "host:port".
	Addr string
}

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

// Parse parses the memcached-session-manager node syntax:
// "n1:host:11211,n2:host:11212" (comma or space separated), or "host:11211"
// alone for a single node without id. An empty string gives no nodes. A bad
// string is an error that names the offending part; the caller prefixes
// it with its own name.
func Parse(s string) ([]Spec, error) {
	parts := SplitList(s)
	var nodes []Spec
	seen := map[string]bool{}
	for _, p := range parts {
		id, addr, ok := strings.Cut(p, ":")
		if strings.HasPrefix(p, "[") {
			ok = false // "[::1]:11211": an IPv6 address without id
		}
		if ok && strings.Contains(addr, ":") {
			if !nodeIDRE.MatchString(id) {
				return nil, fmt.Errorf("node %q: id %q must be 1-32 letters, digits or _, as in \"n1:10.0.0.1:11211\"", p, id)
			}
		} else {
			if len(parts) > 1 {
				return nil, fmt.Errorf("node %q has no id: with several nodes each one is id:host:port, as in \"n1:10.0.0.1:11211,n2:10.0.0.2:11211\"", p)
			}
			id, addr = "", p
		}
		if err := checkAddr(p, addr); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("node %q: node id %q is used twice; each node needs its own id", p, id)
		}
		seen[id] = true
		nodes = append(nodes, Spec{ID: id, Addr: addr})
	}
	return nodes, nil
}

// checkAddr checks the host:port of the list item p.
func checkAddr(p, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("node %q is not id:host:port (or host:port for a single node), as in \"n1:10.0.0.1:11211\"", p)
	}
	if strings.IndexFunc(host, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		return fmt.Errorf("node %q: address %q has a control or non-ASCII character", p, addr)
	}
	if pn, err := strconv.Atoi(port); err != nil {
		// "n1:localhost" reads as host n1, port localhost: most likely
		// an id and a host without a port.
		return fmt.Errorf("node %q has no port: %q is not a port number; write id:host:port, as in \"n1:localhost:11211\"", p, port)
	} else if pn < 1 || pn > 65535 {
		return fmt.Errorf("node %q: port %d is not from 1 to 65535 (memcached's default is 11211)", p, pn)
	}
	return nil
}

// SplitList splits on commas and white space, dropping empty items.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}
