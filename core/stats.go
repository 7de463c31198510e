package core

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/gomsm/msm/core/internal/nodes"
)

// stats holds the live counters. Every field is an atomic, so counting on
// the request path takes no lock and allocates nothing.
type stats struct {
	requests, requestsWithSession, ignored           atomic.Uint64
	invalidIDs, unknownNode                          atomic.Uint64
	created, expired, loaded, loadMisses             atomic.Uint64
	relocated, invalidated, corrupt                  atomic.Uint64
	backupsOK, backupsFailed, backupsUnchanged       atomic.Uint64
	backupsTimedOut, backupsTooLarge, backupsDropped atomic.Uint64
	touches, encodeErrors, decodeErrors, lateCookies atomic.Uint64
	nodeUp, nodeDown                                 atomic.Uint64
	lockWaits, lockTimeouts, loadsFromBackup         atomic.Uint64
	decodesSaved                                     atomic.Uint64
	packed, unavailable, evicted, resent             atomic.Uint64
	saveConflicts, savesFailed, savesOneCopy         atomic.Uint64
	eventsDropped, principalChecks, revoked          atomic.Uint64
	backupLatency, loadLatency, lockWait             histogram
	encodedSize                                      histogram
	// backupQueueDelay: from a backup's submission to its write done.
	backupQueueDelay histogram
}

// Stats is a snapshot of a Manager's counters, gauges and timings, cheap
// enough to take every second. Counters count since New or the last
// ResetStats.
type Stats struct {
	Requests            uint64 // requests through the middleware
	RequestsWithSession uint64 // requests that had or created a session
	RequestsIgnored     uint64 // requests matched by IgnorePattern
	InvalidIDs          uint64 // malformed or forged ids (incl. unknown node ids)
	SessionsCreated     uint64
	SessionsExpired     uint64 // expired in local memory
	SessionsLoaded      uint64 // loaded from memcached (not local)
	SessionsNotFound    uint64 // well-formed ids memcached did not have
	SessionsRelocated   uint64 // moved to another node
	SessionsInvalidated uint64
	SessionsCorrupt     uint64 // undecodable bytes in memcached
	LocalSessions       int    // gauge: sessions in local memory
	SessionsPacked      uint64 // idle sessions packed into one encoded block (CompactAfter)
	// SessionsUnavailable counts requests whose session could not be
	// loaded because memcached did not answer (Session.Err is ErrUnavailable).
	SessionsUnavailable uint64
	// SessionsEvicted counts sessions dropped from local memory by the
	// MaxLocalSessions bound (they reload from memcached when used).
	SessionsEvicted uint64
	// SessionsResent counts sessions sent again to a node that came back
	// empty (restarted or flushed) without being asked for.
	SessionsResent uint64

	BackupsOK        uint64 // sets that reached memcached
	BackupsFailed    uint64
	BackupsUnchanged uint64 // skipped: the attributes hash as in memcached
	BackupsTimedOut  uint64 // sync backups that outlived BackupTimeout
	BackupsTooLarge  uint64 // not sent: over MaxSessionBytes
	BackupsDropped   uint64 // superseded by a newer backup of the session
	BackupQueue      int    // gauge: async backups waiting
	Touches          uint64 // TTL refreshes of unchanged sessions
	EncodeErrors     uint64
	DecodeErrors     uint64
	LateCookies      uint64 // sessions created after the response had started

	NodeDownEvents uint64
	NodeUpEvents   uint64
	Nodes          []NodeStats

	LockWaits       uint64 // lock acquisitions that had to wait (non-sticky)
	LockTimeouts    uint64
	LoadsFromBackup uint64 // non-sticky loads served by the backup copy
	// DecodesSaved counts copies a non-sticky load read from memcached
	// with the very bytes of its session's last read on this instance,
	// so they were not decoded again (the memo of decodes); with two
	// nodes a load reads two copies.
	DecodesSaved uint64

	// SaveConflicts counts writes memcached refused because it already held
	// a newer version of the session (saved by another instance).
	SaveConflicts uint64
	// SavesFailed counts non-sticky saves that reached no node: the
	// request was answered 503 (ErrSaveFailed), not 2xx.
	SavesFailed uint64
	// SavesOneCopy counts non-sticky saves acknowledged with a single copy
	// because no second node was up.
	SavesOneCopy uint64
	// EventsDropped counts session events not delivered to Config.OnEvent
	// because its queue was full (OnEvent slower than the events) or the
	// Manager was closed.
	EventsDropped uint64
	// PrincipalChecks counts checks of sessions with a principal against
	// the principal's index (at most one per PrincipalCheckInterval per
	// session); SessionsRevoked counts sessions this instance stopped
	// serving because such a check found them ended elsewhere.
	PrincipalChecks, SessionsRevoked uint64

	BackupLatency Histogram
	LoadLatency   Histogram
	LockWait      Histogram
	EncodedSize   Histogram // bytes of the stored envelope

	// BackupQueueDelay is the time from a session backup's submission (at
	// the end of the request that changed the session) to its memcached
	// write done, queue wait included. With asynchronous backup (sticky
	// mode's default) it is the window in which an acknowledged change
	// lives only in the instance's memory and dies with it.
	BackupQueueDelay Histogram
	// BackupQueueDelayP50 and BackupQueueDelayP99 are the median and 99th
	// percentile of BackupQueueDelay since New or ResetStats, estimated
	// from its buckets (Histogram.Quantile).
	BackupQueueDelayP50, BackupQueueDelayP99 time.Duration
}

// NodeStats describes one node and its operations.
type NodeStats struct {
	ID       string
	Addr     string
	Up       bool
	Failover bool
	// Ops counts operations by op ("get", "set", "touch", "delete", "add",
	// "gets", "cas") and result ("ok", "miss", "not_stored", "error",
	// "skipped" for a node marked down).
	Ops map[string]map[string]uint64
	// LastError says why the node is down ("" while it is up): it names
	// the server and the step, such as a certificate Config.TLS cannot
	// verify or credentials memcached refused.
	LastError string `json:",omitempty"`
	// Fallbacks counts, per command the server lacks ("gat", "touch"),
	// the operations that used its fallback (get + touch for gat, gets +
	// cas for touch); nil while the server has them all. A proxy such as
	// twemproxy has no gat: every session load there costs two round
	// trips.
	Fallbacks map[string]uint64 `json:",omitempty"`
}

// histBuckets is the number of power-of-two buckets of a histogram.
const histBuckets = 40

// histogram counts observations in power-of-two buckets, lock-free.
type histogram struct {
	count, sum atomic.Uint64
	buckets    [histBuckets]atomic.Uint64
}

func (h *histogram) observe(v uint64) {
	h.count.Add(1)
	h.sum.Add(v)
	h.buckets[min(bits.Len64(v), histBuckets-1)].Add(1)
}

func (h *histogram) since(start time.Time) { h.observe(uint64(time.Since(start))) }

// Histogram is a snapshot of a distribution. Bucket i counts observations v
// with 2^(i-1) <= v < 2^i (bucket 0: v == 0); for timings v is in
// nanoseconds, for sizes in bytes.
type Histogram struct {
	Count   uint64
	Sum     uint64
	Buckets [histBuckets]uint64
}

// UpperBound returns the exclusive upper bound of bucket i.
func (Histogram) UpperBound(i int) uint64 { return 1 << i }

// Mean returns Sum/Count, or 0.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return float64(h.Sum) / float64(h.Count)
}

// Quantile estimates the q-quantile (0 <= q <= 1) of the observations,
// interpolating linearly inside the power-of-two bucket that holds it, as
// Prometheus' histogram_quantile does: the estimate is within a factor of
// two of the true value. It returns 0 for an empty histogram. The total is
// the buckets' sum, not Count, which a snapshot taken while observations
// go on may put one or two off.
func (h Histogram) Quantile(q float64) float64 {
	var total uint64
	for _, n := range h.Buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(total)
	var cum uint64
	for i, n := range h.Buckets {
		if n == 0 || float64(cum+n) < rank {
			cum += n
			continue
		}
		if i == 0 {
			return 0 // bucket 0 holds v == 0 only
		}
		lo, hi := float64(h.UpperBound(i-1)), float64(h.UpperBound(i))
		return lo + (hi-lo)*(rank-float64(cum))/float64(n)
	}
	return float64(h.UpperBound(histBuckets - 1))
}

func (h *histogram) snapshot() Histogram {
	var s Histogram
	s.Count, s.Sum = h.count.Load(), h.sum.Load()
	for i := range h.buckets {
		s.Buckets[i] = h.buckets[i].Load()
	}
	return s
}

func (h *histogram) reset() {
	h.count.Store(0)
	h.sum.Store(0)
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
}

// Stats returns a snapshot of the counters, gauges and timings.
func (m *Manager) Stats() Stats {
	s := &m.stats
	out := Stats{
		Requests: s.requests.Load(), RequestsWithSession: s.requestsWithSession.Load(),
		RequestsIgnored: s.ignored.Load(), InvalidIDs: s.invalidIDs.Load(),
		SessionsCreated: s.created.Load(), SessionsExpired: s.expired.Load(),
		SessionsLoaded: s.loaded.Load(), SessionsNotFound: s.loadMisses.Load(),
		SessionsRelocated: s.relocated.Load(), SessionsInvalidated: s.invalidated.Load(),
		SessionsCorrupt: s.corrupt.Load(), LocalSessions: m.store.Len(), SessionsPacked: s.packed.Load(),
		SessionsUnavailable: s.unavailable.Load(), SessionsEvicted: s.evicted.Load(), SessionsResent: s.resent.Load(),
		BackupsOK: s.backupsOK.Load(), BackupsFailed: s.backupsFailed.Load(),
		BackupsUnchanged: s.backupsUnchanged.Load(), BackupsTimedOut: s.backupsTimedOut.Load(),
		BackupsTooLarge: s.backupsTooLarge.Load(), BackupsDropped: s.backupsDropped.Load(),
		BackupQueue: m.backup.Queued(), Touches: s.touches.Load(),
		EncodeErrors: s.encodeErrors.Load(), DecodeErrors: s.decodeErrors.Load(),
		LateCookies: s.lateCookies.Load(), NodeDownEvents: s.nodeDown.Load(), NodeUpEvents: s.nodeUp.Load(),
		LockWaits: s.lockWaits.Load(), LockTimeouts: s.lockTimeouts.Load(), LoadsFromBackup: s.loadsFromBackup.Load(),
		DecodesSaved:  s.decodesSaved.Load(),
		SaveConflicts: s.saveConflicts.Load(), SavesFailed: s.savesFailed.Load(), SavesOneCopy: s.savesOneCopy.Load(),
		EventsDropped: s.eventsDropped.Load(), PrincipalChecks: s.principalChecks.Load(), SessionsRevoked: s.revoked.Load(),
		BackupLatency: s.backupLatency.snapshot(), LoadLatency: s.loadLatency.snapshot(),
		LockWait: s.lockWait.snapshot(), EncodedSize: s.encodedSize.snapshot(),
		BackupQueueDelay: s.backupQueueDelay.snapshot(),
	}
	out.BackupQueueDelayP50 = time.Duration(out.BackupQueueDelay.Quantile(0.5))
	out.BackupQueueDelayP99 = time.Duration(out.BackupQueueDelay.Quantile(0.99))
	for _, n := range m.nodes.Load().List {
		// Up until an operation fails; down until one sent since (the
		// probe after the retry interval) is answered.
		out.Nodes = append(out.Nodes, NodeStats{ID: n.ID, Addr: n.Addr, Up: !n.MarkedDown(), Failover: n.Failover, Ops: n.Ops.Snapshot(), LastError: n.LastError(), Fallbacks: fallbacksOf(n)})
	}
	return out
}

// ResetStats sets every counter and timing back to zero (gauges stay).
func (m *Manager) ResetStats() {
	s := &m.stats
	for _, c := range []*atomic.Uint64{
		&s.requests, &s.requestsWithSession, &s.ignored, &s.invalidIDs, &s.unknownNode,
		&s.created, &s.expired, &s.loaded, &s.loadMisses, &s.relocated, &s.invalidated, &s.corrupt,
		&s.backupsOK, &s.backupsFailed, &s.backupsUnchanged, &s.backupsTimedOut, &s.backupsTooLarge,
		&s.backupsDropped, &s.touches, &s.encodeErrors, &s.decodeErrors, &s.lateCookies,
		&s.nodeUp, &s.nodeDown, &s.lockWaits, &s.lockTimeouts, &s.loadsFromBackup, &s.decodesSaved, &s.packed,
		&s.unavailable, &s.evicted, &s.resent,
		&s.saveConflicts, &s.savesFailed, &s.savesOneCopy, &s.eventsDropped, &s.principalChecks, &s.revoked,
	} {
		c.Store(0)
	}
	for _, h := range []*histogram{&s.backupLatency, &s.loadLatency, &s.lockWait, &s.encodedSize, &s.backupQueueDelay} {
		h.reset()
	}
	for _, n := range m.nodes.Load().List {
		n.Ops.Reset()
	}
}

// fallbacksOf is n's fallback counts, nil when it has used none.
func fallbacksOf(n *nodes.Node) map[string]uint64 {
	if f := n.Fallbacks(); len(f) > 0 {
		return f
	}
	return nil
}
