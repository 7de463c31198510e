package core

import (
	"time"

	"github.com/gomsm/msm/core/internal/nodes"
)

// This file refills a memcached node that came back empty. In sticky mode
// a session that is only read is never sent again: its TTL is refreshed
// with touch. When its node restarts empty or is flushed, the session is
// missing from memcached until it next changes (or a touch misses), and
// the death of this instance in that window would lose it. So the
// refiller asks every node, every NodeRetryInterval, when its process
// started and how many flush_all it received ("stats": no key, no item
// touched); when either changed, the node lost its items, and the live
// sessions this instance holds for it are sent again in the background,
// at most refillRate a second.

// refillRate bounds the sessions a refill sends per second, so that a
// node that just came back is not flooded and the backup workers keep
// serving requests.
const refillRate = 2000

// refillState is the refiller's memory of one node, by address.
type refillState struct {
	id      nodes.Identity
	pending bool // emptied: sessions still to send
}

// refiller watches the nodes for empty restarts and flushes, and refills
// them. It runs in sticky mode only (non-sticky sessions are written on
// every change and have a backup copy), until Close.
func (m *Manager) refiller() {
	defer m.sweeperWG.Done()
	t := time.NewTicker(max(m.cfg.NodeRetryInterval, 100*time.Millisecond))
	defer t.Stop()
	states := map[string]*refillState{}
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		if !m.backupOn() {
			continue
		}
		seen := map[string]bool{}
		for _, n := range m.nodes.Load().List {
			seen[n.Addr] = true
			m.watchNode(n, states)
		}
		for addr := range states {
			if !seen[addr] {
				delete(states, addr) // removed by SetNodes
			}
		}
	}
}

// watchNode checks one node and refills it when it came back empty.
func (m *Manager) watchNode(n *nodes.Node, states map[string]*refillState) {
	id, err := nodes.FetchIdentity(n.Addr, m.cfg.OperationTimeout, m.dial())
	st := states[n.Addr]
	if err != nil {
		return // unreachable: requests mark it down, a later check sees it back
	}
	m.nodeChecks.Add(1)
	if st == nil {
		states[n.Addr] = &refillState{id: id}
		return
	}
	if id.EmptiedSince(st.id) {
		m.cfg.Logger.Warn("gomsm: memcached node came back empty (restarted or flushed): sending its sessions again", "node", n.ID, "addr", n.Addr)
		m.forgetBackups(n.ID)
		st.pending = true
	}
	st.id = id
	if st.pending && n.Up(time.Now()) {
		st.pending = !m.refill(n)
	}
}

// forgetBackups records that memcached no longer holds the sessions of
// node nodeID: each is sent again, by the refill or by its next request.
func (m *Manager) forgetBackups(nodeID string) {
	m.store.Each(func(d *sessionData) bool {
		d.mu.Lock()
		if d.node == nodeID {
			d.backedUp = false
		}
		d.mu.Unlock()
		return true
	})
}

// refill sends again the sessions of node n that memcached lacks, at most
// refillRate a second, each after the previous one landed. It reports
// whether it is done; false when the node failed again (the next check
// goes on) or the Manager is closing. A session in use is left to its
// request, whose save sends it.
func (m *Manager) refill(n *nodes.Node) bool {
	var ds []*sessionData
	m.store.Each(func(d *sessionData) bool {
		d.mu.Lock()
		if d.node == n.ID && !d.backedUp && !d.removed {
			ds = append(ds, d)
		}
		d.mu.Unlock()
		return true
	})
	const batches = 20 // a second's budget in 50 ms slices
	t := time.NewTicker(time.Second / batches)
	defer t.Stop()
	for i, d := range ds {
		if i > 0 && i%(refillRate/batches) == 0 {
			select {
			case <-m.stop:
				return false
			case <-t.C:
			}
		}
		select {
		case <-m.stop:
			return false // Close: its flush sends what is queued
		default:
		}
		if !m.resend(d, n) {
			return false // the node failed again (and no other took it)
		}
	}
	return true
}

// resend sends d to node n again, unless it no longer needs it (removed,
// saved since, in use: its request saves it, or moved). It reports false
// when the node failed again.
func (m *Manager) resend(d *sessionData, n *nodes.Node) bool {
	d.mu.Lock()
	if d.removed || d.backedUp || d.inUse > 0 || d.node != n.ID {
		d.mu.Unlock()
		return true
	}
	wasPacked := d.packed != nil
	j, _, _ := m.nextBackup(d, time.Now())
	if wasPacked {
		d.pack(m.cfg.Codec) // the encodings are cached: cheap
	}
	d.mu.Unlock()
	if j == nil {
		return true // too large or not encodable: counted and logged
	}
	m.backup.submit(j, true, 0)
	d.mu.Lock()
	ok, moved := d.backedUp, d.node != n.ID
	d.mu.Unlock()
	if ok && !moved {
		m.stats.resent.Add(1)
	}
	return ok
}
