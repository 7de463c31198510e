package core

import (
	"strings"

	"github.com/gomsm/msm/core/internal/nodes"
)

// probeNodes runs once, in the background, when New has memcached nodes to
// use: it logs in one line which nodes answered (nodes.Probe), so that a
// node that is down at startup is reported before the first request needs
// it. New does not wait for it, and it changes nothing.
func (m *Manager) probeNodes(list []*nodes.Node) {
	up, down := nodes.Probe(list, m.cfg.OperationTimeout, m.dial())
	if len(down) == 0 {
		m.cfg.Logger.Info("gomsm: memcached at startup: every node answered", "up", strings.Join(up, ", "))
		return
	}
	m.cfg.Logger.Warn("gomsm: memcached at startup: some nodes did not answer within OperationTimeout",
		"up", strings.Join(up, ", "), "down", strings.Join(down, "; "))
}
