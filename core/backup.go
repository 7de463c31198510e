package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/envelope"
	"github.com/gomsm/msm/core/internal/localstore"
	"github.com/gomsm/msm/core/internal/nodes"
	"github.com/gomsm/msm/core/internal/writequeue"
)

// This file holds what goes to memcached and comes back from it, for both
// modes: the save decision (nextBackup) and the attributes' encoding, the
// backup jobs and their ordered write queue (internal/writequeue), versioned writes, relocation, and the
// load of one copy (load). The stored bytes themselves are made and read
// in encode.go (internal/envelope); when a mode saves is in sticky.go and
// nssave.go.

// tombstoneTTL is how long a tombstone lives: as long as a stale local copy
// can (its idle timeout), a day for sessions that never idle out.
func tombstoneTTL(maxInactive time.Duration, now time.Time) int32 {
	if maxInactive <= 0 {
		maxInactive = 24 * time.Hour
	}
	return expiration(maxInactive, now)
}

// maxRelativeTTL is memcached's limit for a relative expiration: longer
// ones must be given as an absolute unix time.
const maxRelativeTTL = 30 * 24 * time.Hour

// expiration converts an idle timeout into memcached's expiration field.
func expiration(maxInactive time.Duration, now time.Time) int32 {
	if maxInactive <= 0 {
		return 0
	}
	secs := int64((maxInactive + time.Second - 1) / time.Second)
	if maxInactive > maxRelativeTTL {
		return int32(now.Unix() + secs)
	}
	return int32(secs)
}

// touchInterval is how often an unchanged session's TTL is refreshed.
func touchInterval(maxInactive time.Duration) time.Duration {
	if maxInactive <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return maxInactive / 4
}

type jobKind int

const (
	jobSet jobKind = iota
	jobTouch
	jobDelete
	jobBury        // replace a dead session's copy by a tombstone
	jobTouchBackup // non-sticky: refresh the backup copy's TTL
	jobFlush       // nothing: waiting for it waits for the jobs queued before
)

// backupJob is one memcached write for one session, run by the session's
// worker so that the writes of a session happen in the order they were made.
type backupJob struct {
	kind jobKind
	d    *sessionData
	seq  uint64 // jobSet: d.seq when queued
	// version is the session version blob carries (jobSet): memcached
	// takes the write only over an older version (writeVersioned).
	version uint64
	blob    []byte // jobSet
	ttl     int32  // jobSet, jobTouch, jobBury, jobTouchBackup
	// node and key of a jobDelete or jobBury (the session's id has moved on).
	node *nodes.Node
	key  string

	queued time.Time // when submitted: the backup queue delay starts here
}

// backupQueue is the backup jobs' ordered write queue: all the jobs of a
// session go to its worker (d.worker), so they run in the order they were
// made; a write superseded since it was queued is dropped when it runs
// (jobTarget).
type backupQueue struct{ *writequeue.Pool[*backupJob] }

func newBackupQueue(m *Manager, workers int) backupQueue {
	return backupQueue{writequeue.New(workers, 1024, m.runJob)}
}

// submit queues j on its session's worker; with wait it blocks until the job
// ran or timeout passed (0: no bound) and reports whether it ran. After
// Close, jobs run in the caller's goroutine.
func (q backupQueue) submit(j *backupJob, wait bool, timeout time.Duration) bool {
	j.queued = time.Now()
	return q.Submit(j.d.worker, j, wait, timeout)
}

// nextBackup decides, for a session that changed (or whose copy must be
// sent again), whether memcached needs a new copy: it encodes the
// attributes and compares their hash with the last copy's. It returns the
// write, or nil: unchanged (then unchanged is true), or not encodable or
// too large (counted and logged, and returned as err; the old copy stays).
// Both modes save through it. Called with d.mu held, which it keeps.
func (m *Manager) nextBackup(d *sessionData, now time.Time) (j *backupJob, unchanged bool, err error) {
	attrs, h, err := m.encodeAttrs(d)
	if err != nil {
		m.stats.encodeErrors.Add(1)
		m.logOnce("session not sent to memcached: attribute cannot be encoded", "session", fingerprint(d.base), "err", err)
		return nil, false, err
	}
	if d.backedUp && h == d.lastHash {
		m.stats.backupsUnchanged.Add(1)
		return nil, true, nil
	}
	d.version++
	blob, err := m.encodeEnvelope(d, attrs)
	if err != nil {
		d.version--
		d.tooLarge = errors.Is(err, ErrSessionTooLarge)
		m.refuseBlob(d, blob, err)
		return nil, false, err
	}
	d.tooLarge = false
	d.seq++
	d.lastHash, d.backedUp, d.lastSync = h, true, now.UnixNano()
	return &backupJob{kind: jobSet, d: d, seq: d.seq, version: d.version, blob: blob, ttl: expiration(d.maxInactive, now)}, false, nil
}

// encodeAttrs returns the encodings of the attributes that go to memcached
// and their hash (attrsHash), encoding and hashing only those whose cached
// encoding is stale: an unchanged attribute costs neither again. Called
// with d.mu held.
func (m *Manager) encodeAttrs(d *sessionData) (map[string][]byte, uint64, error) {
	if d.packed != nil {
		enc, h := m.packedAttrs(d)
		return enc, h, nil
	}
	attrs := d.attributes()
	out := make(map[string][]byte, len(attrs))
	var sum attrsHash
	for k, a := range attrs {
		if m.staysLocal(k) {
			continue
		}
		if !a.encOK {
			b, err := envelope.Marshal(m.cfg.Codec, a.value)
			if err != nil {
				return nil, 0, fmt.Errorf("attribute %q (%T): %w", k, a.value, err)
			}
			a.setEnc(b)
		}
		out[k] = a.enc
		sum.add(k, a)
	}
	return out, sum.value(), nil
}

// runJob does one backup job on the session's current node; a set that
// meets a dead node relocates the session to another node.
func (m *Manager) runJob(j *backupJob) {
	defer func() {
		if j.kind == jobSet && !j.queued.IsZero() {
			m.stats.backupQueueDelay.since(j.queued) // submitted to written (or given up)
		}
	}()
	switch j.kind {
	case jobFlush:
		// nothing: waiting for it waited for the jobs queued before
	case jobDelete:
		m.nodes.Do(j.node, nodes.OpDelete, func(c *memcache.Client) error { return c.Delete(j.key) })
	case jobBury:
		m.nodes.Do(j.node, nodes.OpSet, func(c *memcache.Client) error {
			return c.Set(&memcache.Item{Key: j.key, Value: tombstone, Expiration: j.ttl})
		})
	case jobTouch, jobTouchBackup:
		m.runTouch(j)
	case jobSet:
		m.runSet(j)
	}
}

// jobTarget returns the node and key of j's session now, and false when
// the job is moot: the session is gone, or (jobSet) a newer backup of it
// was queued since.
func (m *Manager) jobTarget(j *backupJob) (*nodes.Node, string, bool) {
	d := j.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.removed || (j.kind == jobSet && j.seq < d.seq) {
		return nil, "", false
	}
	return m.nodeOf(d), m.keyOf(d), true
}

// runTouch refreshes the TTL of a session's copy (jobTouch) or of its
// non-sticky backup copy (jobTouchBackup).
func (m *Manager) runTouch(j *backupJob) {
	n, key, ok := m.jobTarget(j)
	if !ok {
		return
	}
	if j.kind == jobTouchBackup {
		m.touchBackupCopy(j, n, backupPrefix+key)
		return
	}
	err := nodes.ErrDown
	if n != nil {
		err = m.nodes.Do(n, nodes.OpTouch, func(c *memcache.Client) error { return nodes.Touch(n, c, key, j.ttl) })
	}
	if err == nil {
		m.stats.touches.Add(1)
		return
	}
	// Gone (evicted, node restarted) or unreachable: the next request
	// sends the whole session again, to a live node.
	d := j.d
	d.mu.Lock()
	d.backedUp = false
	d.mu.Unlock()
}

// runSet writes a session's new copy (jobSet) over an older version on its
// node; a dead node makes the session relocate to another node.
func (m *Manager) runSet(j *backupJob) {
	d := j.d
	d.writeMu.Lock() // from the version check to the write
	defer d.writeMu.Unlock()
	n, key, ok := m.jobTarget(j)
	if !ok {
		m.stats.backupsDropped.Add(1)
		return
	}
	start := time.Now()
	err := nodes.ErrDown
	if n != nil {
		err = m.writeVersioned(n, key, j.blob, j.version, j.ttl, localstore.Seen{})
	}
	if err != nil && (n == nil || errors.Is(err, nodes.ErrDown) || nodes.Failure(err)) {
		if to := m.relocate(d, n); to != nil {
			d.mu.Lock()
			key = m.keyOf(d)
			d.mu.Unlock()
			err = m.writeVersioned(to, key, j.blob, j.version, j.ttl, localstore.Seen{})
		}
	}
	m.stats.backupLatency.since(start)
	m.setDone(j, err)
}

// setDone records the outcome of a jobSet's write.
func (m *Manager) setDone(j *backupJob, err error) {
	d := j.d
	switch {
	case errors.Is(err, errSessionGone):
		// Invalidated or renamed by another instance: our copy is dead.
		m.expire(d)
		return
	case errors.Is(err, errNewerStored):
		// Another instance took the session over and saved it since: our
		// copy is stale. Drop it; the next request loads the newer one.
		m.stats.saveConflicts.Add(1)
		m.logOnce("session backup refused: memcached holds a newer version (another instance saved it)", "session", fingerprint(d.base))
		m.store.Remove(d.base, d)
		return
	}
	if err != nil {
		m.stats.backupsFailed.Add(1)
		m.logOnce("session backup failed", "node", d.node, "session", fingerprint(d.base), "err", err)
		d.mu.Lock()
		if d.seq == j.seq {
			d.backedUp = false // the next request tries again
		}
		d.mu.Unlock()
		return
	}
	d.mu.Lock()
	d.savedSeq = max(d.savedSeq, j.seq) // safe to evict from local memory
	d.mu.Unlock()
	m.stats.backupsOK.Add(1)
}

// touchBackupCopy refreshes the TTL of the non-sticky backup copy of a
// session whose primary is on n.
func (m *Manager) touchBackupCopy(j *backupJob, n *nodes.Node, key string) {
	bn := m.backupNodeFor(n)
	if bn == nil {
		return
	}
	if err := m.nodes.Do(bn, nodes.OpTouch, func(c *memcache.Client) error { return nodes.Touch(bn, c, key, j.ttl) }); err == nil {
		m.stats.touches.Add(1)
	}
}

// relocate moves d from node from (down, or no longer configured) to another
// available node and returns it, or nil when there is none. The id changes
// (same base, new node); the next response carries the new cookie.
func (m *Manager) relocate(d *sessionData, from *nodes.Node) *nodes.Node {
	// Non-sticky: move to where the backup copy lives, where a request
	// with the old id will look (nsLoad).
	to := m.mode.copyNode(from)
	if to == nil {
		to = m.nodes.Load().Pick(time.Now(), m.cfg.NodeRetryInterval, from)
	}
	if to == nil || to == from || !to.Up(time.Now()) {
		return nil
	}
	d.mu.Lock()
	d.node = to.ID
	d.mu.Unlock()
	m.stats.relocated.Add(1)
	m.cfg.Logger.Info("gomsm: session relocated", "session", fingerprint(d.base), "to", to.ID)
	m.emitFor(EventRelocated, d)
	return to
}
