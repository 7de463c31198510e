package core

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/envelope"
)

// This file holds what goes to memcached and comes back from it, for both
// modes: the save decision (nextBackup) and the attributes' encoding, the
// backup worker pool and its jobs, versioned writes, relocation, and the
// load of one copy (load). The stored bytes themselves are made and read
// in encode.go (internal/envelope); when a mode saves is in sticky.go and
// nssave.go.

// ErrSessionTooLarge means a session's encoding is over MaxSessionBytes: it
// is not sent to memcached (the previous backup stays) and keeps working
// locally.
var ErrSessionTooLarge = envelope.ErrTooLarge

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
	node *node
	key  string
	done chan struct{} // closed when run, for waiting callers

	queued time.Time // when submitted: the backup queue delay starts here
}

// backupPool runs backup jobs on a fixed set of workers; a session always
// goes to the same worker, whose queue keeps its jobs in order.
type backupPool struct {
	m      *Manager
	queues []chan *backupJob
	wg     sync.WaitGroup
	mu     sync.RWMutex // held for reading while submitting; Close takes it for writing
	closed bool
}

func newBackupPool(m *Manager, workers int) *backupPool {
	p := &backupPool{m: m, queues: make([]chan *backupJob, workers)}
	for i := range p.queues {
		q := make(chan *backupJob, 1024)
		p.queues[i] = q
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range q {
				m.runJob(j)
			}
		}()
	}
	return p
}

// submit queues j on its session's worker; with wait it blocks until the job
// ran or timeout passed (0: no bound) and reports whether it ran. After
// close, jobs run in the caller's goroutine.
func (p *backupPool) submit(j *backupJob, wait bool, timeout time.Duration) bool {
	if wait {
		j.done = make(chan struct{})
	}
	j.queued = time.Now()
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		p.m.runJob(j)
		return true
	}
	// A full queue blocks: a backup is never dropped to save time.
	p.queues[j.d.worker%len(p.queues)] <- j
	p.mu.RUnlock()
	if !wait {
		return true
	}
	if timeout <= 0 {
		<-j.done
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-j.done:
		return true
	case <-t.C:
		return false
	}
}

func (p *backupPool) queued() int {
	n := 0
	for _, q := range p.queues {
		n += len(q)
	}
	return n
}

// close runs every queued job, then stops the workers.
func (p *backupPool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, q := range p.queues {
		close(q)
	}
	p.mu.Unlock()
	p.wg.Wait()
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
	d.lastHash, d.backedUp, d.lastSync = h, true, now
	return &backupJob{kind: jobSet, d: d, seq: d.seq, version: d.version, blob: blob, ttl: expiration(d.maxInactive, now)}, false, nil
}

// encodeAttrs returns the encodings of the attributes that go to memcached
// and their hash (attrsHash), encoding and hashing only those whose cached
// encoding is stale: an unchanged attribute costs neither again. Called
// with d.mu held.
func (m *Manager) encodeAttrs(d *sessionData) (map[string][]byte, uint64, error) {
	attrs := d.attributes()
	out := make(map[string][]byte, len(attrs))
	var sum attrsHash
	for k, a := range attrs {
		if m.cfg.attrFilter != nil && !m.cfg.attrFilter.MatchString(k) {
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
		if j.done != nil {
			close(j.done)
		}
	}()
	switch j.kind {
	case jobFlush:
		// nothing: waiting for it waited for the jobs queued before
	case jobDelete:
		m.do(j.node, opDelete, func(c *memcache.Client) error { return c.Delete(j.key) })
	case jobBury:
		m.do(j.node, opSet, func(c *memcache.Client) error {
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
func (m *Manager) jobTarget(j *backupJob) (*node, string, bool) {
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
	err := errNodeDown
	if n != nil {
		err = m.do(n, opTouch, func(c *memcache.Client) error { return c.Touch(key, j.ttl) })
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
	err := errNodeDown
	if n != nil {
		err = m.writeVersioned(n, key, j.blob, j.version, j.ttl)
	}
	if err != nil && (n == nil || errors.Is(err, errNodeDown) || nodeFailure(err)) {
		if to := m.relocate(d, n); to != nil {
			d.mu.Lock()
			key = m.keyOf(d)
			d.mu.Unlock()
			err = m.writeVersioned(to, key, j.blob, j.version, j.ttl)
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
		m.store.remove(d.base, d)
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
func (m *Manager) touchBackupCopy(j *backupJob, n *node, key string) {
	bn := m.backupNodeFor(n)
	if bn == nil {
		return
	}
	if err := m.do(bn, opTouch, func(c *memcache.Client) error { return c.Touch(key, j.ttl) }); err == nil {
		m.stats.touches.Add(1)
	}
}

// relocate moves d from node from (down, or no longer configured) to another
// available node and returns it, or nil when there is none. The id changes
// (same base, new node); the next response carries the new cookie.
func (m *Manager) relocate(d *sessionData, from *node) *node {
	// Non-sticky: move to where the backup copy lives, where a request
	// with the old id will look (nsLoad).
	to := m.mode.copyNode(from)
	if to == nil {
		to = m.nodes.Load().pick(time.Now(), m.cfg.NodeRetryInterval, from)
	}
	if to == nil || to == from || !to.up(time.Now()) {
		return nil
	}
	d.mu.Lock()
	d.node = to.ID
	d.mu.Unlock()
	m.stats.relocated.Add(1)
	m.cfg.Logger.Info("gomsm: session relocated", "session", fingerprint(d.base), "to", to.ID)
	return to
}
