package core

import (
	"errors"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/nodes"
)

// The read of one copy of a session from its node, for both modes, and
// where a session lives (nodeOf, keyOf).

// nodeOf returns the node that holds d, nil if it is no longer configured.
// Called with d.mu held.
func (m *Manager) nodeOf(d *sessionData) *nodes.Node {
	return m.nodes.Load().ByID[d.node]
}

// keyOf returns the memcached key of d. Called with d.mu held.
func (m *Manager) keyOf(d *sessionData) string {
	return keyFor(m.cfg.KeyPrefix, d.base, d.node)
}

// load fetches the session with this id from its node. It returns nil, nil
// when memcached does not have it (or has undecodable bytes), and an error
// when the node could not answer.
func (m *Manager) load(id sessionID, n *nodes.Node, key string) (*sessionData, error) {
	start := time.Now()
	var item *memcache.Item
	err := m.nodes.Do(n, nodes.OpGet, func(c *memcache.Client) error {
		var err error
		item, err = nodes.GetAndTouch(n, c, key, expiration(m.cfg.MaxInactive, start))
		return err
	})
	m.stats.loadLatency.since(start)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if isTombstone(item.Value) {
		return nil, errSessionGone
	}
	return m.decode(id, n, item.Value), nil
}

// errSessionGone is load's answer for a tombstone: the session was
// invalidated or renamed, and no other copy of it may be used.
var errSessionGone = errors.New("core: session invalidated or renamed")
