package core

import (
	"cmp"
	"slices"
	"time"
)

// This file is the principal index seen from one request and one
// instance: the check of a request's session against its principal's
// index (checkPrincipal), and the sessions of a principal in this
// instance's memory, listed or ended without memcached.

// checkPrincipal makes sure the request's session was not ended elsewhere
// by InvalidatePrincipal or MaxSessionsPerPrincipal: a session with a
// principal is checked against the index at most once per
// PrincipalCheckInterval on this instance; one that was revoked is
// dropped here and the request goes on without a session (its cookie is
// expired). A session the index does not know (the entry was lost, or
// not written at login) is listed again. When no node of the index
// answers, the session is served and checked again by the next request.
// Called with s.mu held, after the mode found the session.
func (m *Manager) checkPrincipal(s *Session) {
	d := s.d
	if d == nil || !m.indexOn() {
		return
	}
	d.mu.Lock()
	p, base, node := m.principalOf(d), d.base, d.node
	d.mu.Unlock()
	if p == "" {
		return
	}
	now := time.Now()
	if m.checked.Has(base, now) {
		return
	}
	m.stats.principalChecks.Add(1)
	_, _, ix, err := m.readIndex(p, true)
	if err != nil {
		m.logOnce("principal index unavailable: session served unchecked", "err", err)
		return
	}
	if ix != nil {
		if _, ok := ix.revoked[base]; ok {
			m.revokedHere(s, d)
			return
		}
	}
	if ix == nil || ix.live[base].base == "" {
		m.addEntry(p, base, node) // lost or never written: list it again
	}
	m.checked.Add(base, now)
}

// revokedHere drops this instance's copy of a session that was ended on
// another instance; the request goes on without it. Called with s.mu held.
func (m *Manager) revokedHere(s *Session, d *sessionData) {
	d.mu.Lock()
	d.removed = true
	base := d.base
	d.mu.Unlock()
	m.store.Remove(base, d)
	m.mode.detach(base, d)
	m.stats.revoked.Add(1)
	s.d = nil
	s.lifeInvalidate()
}

// localSessionsOf is SessionsOf without memcached: this instance's memory.
func (m *Manager) localSessionsOf(principal string) []SessionInfo {
	var out []SessionInfo
	m.store.Each(func(d *sessionData) bool {
		d.mu.Lock()
		if !d.removed && m.principalOf(d) == principal {
			out = append(out, SessionInfo{ID: formatID(d.base, d.node, ""), CreatedAt: d.created.time(), LastAccessed: d.lastAccessed.time()})
		}
		d.mu.Unlock()
		return true
	})
	slices.SortFunc(out, func(a, b SessionInfo) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out
}

// endLocal ends, without memcached, the sessions of principal in this
// instance's memory: all of them (limit 0), or the oldest beyond limit,
// keeping keep. It returns how many it ended.
func (m *Manager) endLocal(principal, keep string, limit int) int {
	infos := m.localSessionsOf(principal)
	n, remaining := 0, len(infos)
	for _, info := range infos {
		if limit > 0 && remaining <= limit {
			break
		}
		id, _ := parseID(info.ID)
		if id.base == keep {
			continue
		}
		if d := m.store.Get(id.base); d != nil {
			m.drop(d)
			m.stats.invalidated.Add(1)
			n++
			remaining--
		}
	}
	return n
}
