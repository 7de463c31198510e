package core

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/nodes"
)

// Principals ("log out everywhere", "at most N sessions per user"): a
// session tied to a principal (a user id) by SetPrincipal is listed in
// the principal's index in memcached (pindex.go), which any instance can
// read. InvalidatePrincipal ends every session the index lists: it
// revokes them in the index, replaces their memcached copies by
// tombstones and drops this instance's local copies. Other instances learn
// of it when they next serve one of those sessions: a session with a
// principal is checked against the index at most once per
// PrincipalCheckInterval per instance (one round trip: both copies of the
// index read in parallel), so within that interval after
// InvalidatePrincipal returns no instance serves one of them, also from a
// sticky local copy. Sessions without a principal are never checked: they
// cost no round trip.

// DefaultPrincipalCheckInterval is the default of
// Config.PrincipalCheckInterval.
const DefaultPrincipalCheckInterval = time.Second

// SessionInfo describes one session of a principal (SessionsOf).
type SessionInfo struct {
	// ID is the session's id without a route suffix (Manager.Invalidate
	// takes it). It is a credential: do not show it to anyone but the
	// principal.
	ID string
	// CreatedAt is when the session was created.
	CreatedAt time.Time
	// LastAccessed is when the session was last used, as far as memcached
	// knows (its last save; in sticky mode an unchanged session is not
	// saved) or this instance, if it holds the session.
	LastAccessed time.Time
}

// ErrNoPrincipalIndex is returned (wrapped) by SessionsOf and
// InvalidatePrincipal when neither memcached node of the principal's
// index answered: the sessions may exist, nothing was changed.
var ErrNoPrincipalIndex = errors.New("core: principal index unavailable: memcached did not answer")

// SetPrincipal ties the session to a principal (a user id, an account
// name): SessionsOf lists it and InvalidatePrincipal ends it, from any
// instance. "" unties it. It creates the session if it has none. Call it
// at login, after RenewID. The index in memcached is updated before
// SetPrincipal returns (a few round trips, at login only). With
// Config.MaxSessionsPerPrincipal set, the principal's oldest sessions
// beyond the limit are ended (this one is kept). When memcached cannot
// take the index entry the session keeps its principal, the failure is
// logged, and the entry is added again by the next check.
func (s *Session) SetPrincipal(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(true)
	if d == nil {
		return // inert: the request is on an ignored path
	}
	m := s.m
	d.mu.Lock()
	old := m.principalOf(d)
	if old == name {
		d.mu.Unlock()
		return
	}
	if name == "" {
		delete(d.attributes(), attrPrincipal)
	} else {
		d.attributes()[attrPrincipal] = &attr{value: name, hasValue: true}
	}
	base, node := d.base, d.node
	d.mu.Unlock()
	s.markChanged()
	if old != "" {
		m.revokeEntries(old, base)
	}
	if name != "" {
		m.addEntry(name, base, node)
	}
}

// Principal returns the session's principal, "" if none.
func (s *Session) Principal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data(false)
	if d == nil {
		return ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return s.m.principalOf(d)
}

// indexOn reports whether principals are indexed in memcached; without
// memcached (local only, or Disabled) this instance's memory is searched.
func (m *Manager) indexOn() bool { return m.backupOn() }

// addEntry lists base in principal's index and enforces
// MaxSessionsPerPrincipal.
func (m *Manager) addEntry(principal, base, node string) {
	limit := m.cfg.MaxSessionsPerPrincipal
	if !m.indexOn() {
		if limit > 0 {
			m.endLocal(principal, base, limit)
		}
		return
	}
	ix, err := m.updateIndex(principal, func(ix *principalIndex, now time.Time) {
		if _, ok := ix.live[base]; !ok {
			ix.live[base] = indexEntry{base: base, node: node, added: now.UnixNano()}
		}
		delete(ix.revoked, base) // (RenewID revokes the old base, never this one)
	})
	if err != nil {
		m.logOnce("principal index not updated: the session is listed again by its next check", "err", err)
		return
	}
	m.checked.Add(base, time.Now()) // just listed: no check needed before the interval
	if limit > 0 && len(ix.live) > limit {
		m.enforceLimit(principal, base, limit, ix)
	}
}

// enforceLimit ends the oldest sessions of principal beyond limit, keeping
// keep (the session that just logged in). Entries whose session is gone
// from memcached do not count.
func (m *Manager) enforceLimit(principal, keep string, limit int, ix *principalIndex) {
	live := m.liveEntries(ix)
	var over []indexEntry
	for _, e := range ix.byAge() {
		if e.base != keep && len(live)-len(over) > limit {
			if _, ok := live[e.base]; ok {
				over = append(over, e)
			}
		}
	}
	var bases []string
	for b := range ix.live {
		if _, ok := live[b]; !ok {
			bases = append(bases, b) // dead: pruned
		}
	}
	for _, e := range over {
		bases = append(bases, e.base)
	}
	if len(bases) > 0 {
		m.revokeEntries(principal, bases...)
	}
	for _, e := range over {
		m.endSession(principal, e)
	}
}

// revokeEntries marks bases as ended in principal's index.
func (m *Manager) revokeEntries(principal string, bases ...string) {
	if !m.indexOn() {
		return
	}
	_, err := m.updateIndex(principal, func(ix *principalIndex, now time.Time) {
		for _, b := range bases {
			ix.revoke(b, now)
		}
	})
	if err != nil {
		m.logOnce("principal index not updated: ended sessions stay listed", "err", err)
	}
}

// principalRenamed follows a RenewID of a session with a principal: the
// new base is listed, the old one revoked (an instance holding the old id
// must not serve it). Called without d.mu.
func (m *Manager) principalRenamed(d *sessionData, oldBase string) {
	d.mu.Lock()
	p, base, node := m.principalOf(d), d.base, d.node
	d.mu.Unlock()
	if p == "" || !m.indexOn() {
		return
	}
	m.revokeEntries(p, oldBase)
	m.addEntry(p, base, node)
}

// endSession ends the session of e wherever it is: this instance's copy
// is dropped, memcached's replaced by a tombstone.
func (m *Manager) endSession(principal string, e indexEntry) {
	d := m.store.Get(e.base)
	if d == nil {
		d = m.mode.lookupActive(e.base)
	}
	if d == nil {
		// Not here: a stand-in to bury the memcached copy by (and to
		// name the principal in the event).
		d = &sessionData{base: e.base, node: e.node, worker: workerFor(e.base),
			attrs: map[string]*attr{attrPrincipal: {value: principal, hasValue: true}}}
	}
	m.drop(d)
	m.stats.invalidated.Add(1)
}

// liveEntries returns the entries of ix whose session memcached holds (or
// may hold: its node did not answer, or the entry is too new to judge),
// with the stored session's times when it was read: one read per node, in
// parallel.
func (m *Manager) liveEntries(ix *principalIndex) map[string]*SessionInfo {
	byNode := map[string][]indexEntry{}
	for _, e := range ix.live {
		byNode[e.node] = append(byNode[e.node], e)
	}
	out := map[string]*SessionInfo{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for nodeID, entries := range byNode {
		wg.Go(func() {
			infos := m.liveOnNode(m.nodes.Load().ByID[nodeID], entries)
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(out, infos)
		})
	}
	wg.Wait()
	return out
}

// liveOnNode is liveEntries for the entries whose id names node n (nil:
// no longer configured).
func (m *Manager) liveOnNode(n *nodes.Node, entries []indexEntry) map[string]*SessionInfo {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = keyFor(m.cfg.KeyPrefix, e.base, e.node)
	}
	var items map[string]*memcache.Item
	err := nodes.ErrDown
	if n != nil {
		err = m.nodes.Do(n, nodes.OpGet, func(c *memcache.Client) error {
			var err error
			items, err = c.GetMulti(keys)
			return err
		})
	}
	now := time.Now()
	out := map[string]*SessionInfo{}
	for i, e := range entries {
		info := &SessionInfo{ID: formatID(e.base, e.node, ""), CreatedAt: time.Unix(0, e.added), LastAccessed: time.Unix(0, e.added)}
		local := m.store.Get(e.base)
		it := items[keys[i]]
		switch {
		case err == nil && it != nil && isTombstone(it.Value):
			continue // ended
		case err == nil && it != nil:
			if env, derr := m.format().Decode(it.Value, e.base); derr == nil {
				info.CreatedAt, info.LastAccessed = env.CreatedAt, env.LastAccessed
			}
		case err == nil && now.Sub(time.Unix(0, e.added)) > indexGrace && local == nil:
			continue // gone from memcached: expired
		}
		if local != nil {
			local.mu.Lock()
			if t := local.lastAccessed.time(); t.After(info.LastAccessed) {
				info.LastAccessed = t
			}
			local.mu.Unlock()
		}
		out[e.base] = info
	}
	return out
}

// SessionsOf lists the live sessions of principal, from any instance,
// oldest first. Entries of sessions that are gone (expired in memcached,
// ended) are pruned from the index on the way. It costs a few round
// trips: the index from its two nodes, then the sessions, one read per
// node. The error wraps ErrNoPrincipalIndex when memcached could not be
// asked.
func (m *Manager) SessionsOf(ctx context.Context, principal string) ([]SessionInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !m.indexOn() {
		return m.localSessionsOf(principal), nil
	}
	_, _, ix, err := m.readIndex(principal, false)
	if err != nil {
		return nil, errors.Join(ErrNoPrincipalIndex, err)
	}
	if ix == nil {
		return nil, nil
	}
	live := m.liveEntries(ix)
	var dead []string
	for b := range ix.live {
		if live[b] == nil {
			dead = append(dead, b)
		}
	}
	if len(dead) > 0 && ctx.Err() == nil {
		m.revokeEntries(principal, dead...)
	}
	out := make([]SessionInfo, 0, len(live))
	for _, info := range live {
		out = append(out, *info)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out, ctx.Err()
}

// InvalidatePrincipal ends every session of principal, on every instance
// ("log out everywhere"), and returns how many of them were live. When it
// returns, the sessions are revoked in the index (on both its nodes, or
// the one that answered), their memcached copies are tombstones and this
// instance's copies are gone; another instance stops serving them within
// Config.PrincipalCheckInterval, when it next checks one of them. The
// error wraps ErrNoPrincipalIndex when neither node of the index answered:
// then nothing was ended.
func (m *Manager) InvalidatePrincipal(ctx context.Context, principal string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !m.indexOn() {
		return m.endLocal(principal, "", 0), nil
	}
	var ended []indexEntry
	_, err := m.updateIndex(principal, func(ix *principalIndex, now time.Time) {
		ended = ix.byAge()
		for _, e := range ended {
			ix.revoke(e.base, now)
		}
	})
	if err != nil {
		return 0, errors.Join(ErrNoPrincipalIndex, err)
	}
	ix := newPrincipalIndex()
	for _, e := range ended {
		ix.live[e.base] = e
	}
	live := m.liveEntries(ix)
	for _, e := range ended {
		m.endSession(principal, e)
	}
	return len(live), nil
}
