package core

import (
	"strings"
	"sync"
)

// probeNodes runs once, in the background, when New has memcached nodes to
// use: it asks every node for its stats on a connection of its own (all
// nodes at once, each bounded by OperationTimeout) and logs in one line
// which nodes answered, so that a node that is down at startup is reported
// before the first request needs it. New does not wait for it, and it
// changes nothing: node health is still learned from the operations of the
// sessions.
func (m *Manager) probeNodes(nodes []*node) {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			_, errs[i] = fetchIdentity(n.Addr, m.cfg.OperationTimeout)
		})
	}
	wg.Wait()
	var up, down []string
	for i, n := range nodes {
		name := strings.TrimPrefix(n.ID+" "+n.Addr, " ")
		if errs[i] == nil {
			up = append(up, name)
		} else {
			down = append(down, name+" ("+errs[i].Error()+")")
		}
	}
	if len(down) == 0 {
		m.cfg.Logger.Info("gomsm: memcached at startup: every node answered", "up", strings.Join(up, ", "))
		return
	}
	m.cfg.Logger.Warn("gomsm: memcached at startup: some nodes did not answer within OperationTimeout",
		"up", strings.Join(up, ", "), "down", strings.Join(down, "; "))
}
