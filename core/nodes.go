package core

import (
	"fmt"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/mcdial"
	"github.com/gomsm/msm/core/internal/nodes"
)

// This file is core's side of the node set (internal/nodes): the public
// Node and ParseNodes, and the wiring of a node set to the Manager's
// configuration, counters and log.

// Node is one memcached server as configured in Config.Nodes.
type Node struct {
	// ID is the short id carried in session ids ("n1"); empty for a single
	// node configured without id.
	ID string
	// Addr is "host:port".
	Addr string
}

// ParseNodes parses the memcached-session-manager node syntax:
// "n1:host:11211,n2:host:11212" (comma or space separated), or "host:11211"
// alone for a single node without id. An empty string gives no nodes. A bad
// string is an error that names the offending part.
func ParseNodes(s string) ([]Node, error) {
	parsed, err := nodes.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	var out []Node
	for _, p := range parsed {
		out = append(out, Node(p))
	}
	return out, nil
}

// newCluster returns the Manager's empty node set, counting and logging
// what its nodes do.
func (m *Manager) newCluster() *nodes.Cluster {
	return &nodes.Cluster{
		Retry:     m.cfg.NodeRetryInterval,
		OpTimeout: m.cfg.OperationTimeout,
		OnDown: func(n *nodes.Node, err error) {
			m.stats.nodeDown.Add(1)
			if mcdial.Refused(err) {
				// Not a node that died: a configuration that cannot work.
				// Loud, so it is never mistaken for a local-only setup.
				m.cfg.Logger.Error("gomsm: memcached refused the connection", "node", n.ID, "addr", n.Addr, "err", err)
				return
			}
			m.logOnce("node down", "node", n.ID, "addr", n.Addr, "err", err)
		},
		OnUp: func(n *nodes.Node) {
			m.stats.nodeUp.Add(1)
			m.cfg.Logger.Info("gomsm: node up", "node", n.ID, "addr", n.Addr)
		},
	}
}

// buildNodeSet parses the node list and the failover ids; nodes that stay
// from old keep their client and health.
func (m *Manager) buildNodeSet(list, failover string, old *nodes.Set) (*nodes.Set, error) {
	parsed, err := nodes.Parse(list)
	if err != nil {
		// "core: Nodes: node ...": the field, then what is wrong with it.
		return nil, fmt.Errorf("core: Nodes: %w", err)
	}
	ns, err := nodes.NewSet(parsed, nodes.SplitList(failover), old, m.newClient)
	if err != nil {
		return nil, fmt.Errorf("core: FailoverNodes: %w", err)
	}
	return ns, nil
}

// newClient is the memcached client of a node new to the set.
func (m *Manager) newClient(addr string) *memcache.Client {
	c := memcache.New(addr)
	c.Timeout = m.cfg.OperationTimeout
	c.MaxIdleConns = m.cfg.MaxIdleConns
	c.DialContext = m.dial()
	return c
}

// nodeFor returns the configured node an incoming id names, nil (counted
// as an invalid id) when no such node is configured.
func (m *Manager) nodeFor(id sessionID) *nodes.Node {
	n := m.nodes.Load().ByID[id.node]
	if n == nil {
		m.stats.invalidIDs.Add(1)
		m.stats.unknownNode.Add(1)
	}
	return n
}

// dial is how every connection to a node is opened, the clients' and the
// probes' alike: TLS and authentication as configured; nil (plain TCP)
// when neither is.
func (m *Manager) dial() nodes.DialFunc {
	if m.cfg.TLS == nil && m.cfg.Username == "" {
		return nil
	}
	d := &mcdial.Dialer{TLS: m.cfg.TLS, Username: m.cfg.Username, Password: m.cfg.Password, Timeout: m.cfg.OperationTimeout}
	return d.DialContext
}
