// Package promstats exports a core.Manager's statistics to Prometheus.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(promstats.NewCollector(m))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The collector keeps no state: every scrape takes one m.Stats() snapshot
// and turns it into constant metrics, so the request path pays nothing for
// Prometheus. Counters restart from zero after Manager.ResetStats, which
// Prometheus treats as a counter reset. Metric names and their meaning are
// listed in docs/operations.md.
//
// Register one collector per Manager. To export several Managers from one
// process, register each through prometheus.WrapRegistererWith with a
// distinguishing label, or the registry rejects the duplicate metrics.
//
// It is a package of its own so that only users who import it depend on
// the Prometheus client.
package promstats

import (
	"strconv"

	"github.com/gomsm/msm/core"
	"github.com/prometheus/client_golang/prometheus"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	requestsDesc = desc("gomsm_requests_total",
		`Requests through the session middleware by kind: "all" (every request; it includes the other kinds), "with_session" (had or created a session), "ignored" (matched IgnorePattern).`,
		"kind")
	invalidIDsDesc = desc("gomsm_invalid_ids_total",
		"Session cookies that were malformed or named an unknown node; treated as no session.")
	sessionsDesc = desc("gomsm_sessions_total",
		`Session lifecycle events: created, expired (idle in local memory), loaded (from memcached), not_found (well-formed id memcached did not have), relocated (moved to another node), invalidated, corrupt (undecodable bytes in memcached), packed (idle, packed into one encoded block), unavailable (a request's session could not be loaded: memcached did not answer), evicted (dropped from local memory by MaxLocalSessions), resent (sent again to a node that came back empty), revoked (no longer served here: a principal check found it ended by InvalidatePrincipal or MaxSessionsPerPrincipal elsewhere).`,
		"event")
	localSessionsDesc = desc("gomsm_local_sessions",
		"Sessions held in this instance's memory.")
	backupsDesc = desc("gomsm_backups_total",
		`Session backups by result: ok, failed, unchanged (skipped: same attributes as in memcached), timed_out (sync backup over BackupTimeout), too_large (over MaxSessionBytes, not sent), dropped (superseded by a newer backup of the session), conflict (refused: memcached held a newer version, saved by another instance).`,
		"result")
	savesFailedDesc = desc("gomsm_saves_failed_total",
		"Non-sticky saves that no node took: the request was answered 503, not 2xx.")
	savesOneCopyDesc = desc("gomsm_saves_one_copy_total",
		"Non-sticky saves acknowledged with a single copy because no second node was up.")
	backupQueueDesc = desc("gomsm_backup_queue",
		"Asynchronous backup jobs waiting for a worker.")
	touchesDesc = desc("gomsm_touches_total",
		"TTL refreshes (memcached touch) of unchanged sessions.")
	encodeErrorsDesc = desc("gomsm_encode_errors_total",
		"Sessions not backed up because an attribute could not be encoded.")
	decodeErrorsDesc = desc("gomsm_decode_errors_total",
		"Attributes loaded from memcached that could not be decoded.")
	eventsDroppedDesc = desc("gomsm_events_dropped_total",
		"Session events not delivered to Config.OnEvent: its queue was full, or the Manager closed.")
	principalChecksDesc = desc("gomsm_principal_checks_total",
		"Checks of sessions with a principal against the principal's index (at most one per PrincipalCheckInterval per session).")
	lateCookiesDesc = desc("gomsm_late_cookies_total",
		"Sessions created or moved after the response had started; their cookie goes out with the next response.")
	opsDesc = desc("gomsm_memcached_ops_total",
		`memcached operations by node, op (get, set, touch, delete, add, gets, cas) and result (ok, miss, not_stored, error, skipped: not sent because the node is marked down).`,
		"node", "op", "result")
	fallbacksDesc = desc("gomsm_command_fallbacks_total",
		"Operations that used the fallback of a command the node's server lacks: command=gat (get + touch instead), command=touch (gets + cas instead). A proxy such as twemproxy has no gat.",
		"node", "command")
	nodeUpDesc = desc("gomsm_node_up",
		"1 if the node is in use, 0 while it is marked down after a failure.",
		"node")
	nodeInfoDesc = desc("gomsm_node_info",
		"Configured memcached nodes (value 1), with their address and whether they are failover nodes.",
		"node", "addr", "failover")
	transitionsDesc = desc("gomsm_node_transitions_total",
		"Nodes marked down after a failure (direction=down) or back up after a successful probe (direction=up).",
		"direction")
	enabledDesc = desc("gomsm_memcached_enabled",
		"1 if memcached is in use, 0 if switched off (Config.Disabled, SetEnabled, the admin handler).")
	lockWaitsDesc = desc("gomsm_lock_waits_total",
		"Session lock acquisitions that had to wait (non-sticky mode).")
	lockTimeoutsDesc = desc("gomsm_lock_timeouts_total",
		"Session locks not acquired within LockWait (non-sticky mode).")
	loadsFromBackupDesc = desc("gomsm_loads_from_backup_total",
		"Non-sticky loads served by the backup copy because the primary was missing or down.")
	decodesSavedDesc = desc("gomsm_decodes_saved_total",
		"Copies a non-sticky load read with the very bytes of the session's last read here, so not decoded again.")
	backupDurationDesc = desc("gomsm_backup_duration_seconds",
		"Time to write a session to memcached, relocation included.")
	loadDurationDesc = desc("gomsm_load_duration_seconds",
		"Time to load a session from memcached.")
	lockWaitDesc = desc("gomsm_lock_wait_seconds",
		"Time spent acquiring session locks (non-sticky mode).")
	encodedBytesDesc = desc("gomsm_session_encoded_bytes",
		"Size of encoded sessions, as sent (or refused as too large) to memcached.")
	backupQueueDelayDesc = desc("gomsm_backup_queue_delay_seconds",
		"Time from a session backup's submission (end of the request that changed the session) to its memcached write done, queue wait included: with asynchronous backup, the window in which a change lives only in the instance's memory.")
	backupQueueDelaySummaryDesc = desc("gomsm_backup_queue_delay_lifetime_seconds",
		"The median and 99th percentile of gomsm_backup_queue_delay_seconds since the Manager started or its stats were reset, estimated from its power-of-two buckets.")
)

var allDescs = []*prometheus.Desc{
	requestsDesc, invalidIDsDesc, sessionsDesc, localSessionsDesc, backupsDesc, backupQueueDesc,
	savesFailedDesc, savesOneCopyDesc,
	touchesDesc, encodeErrorsDesc, decodeErrorsDesc, lateCookiesDesc, opsDesc, fallbacksDesc, nodeUpDesc,
	eventsDroppedDesc, principalChecksDesc,
	nodeInfoDesc, transitionsDesc, enabledDesc, lockWaitsDesc, lockTimeoutsDesc,
	loadsFromBackupDesc, decodesSavedDesc, backupDurationDesc, loadDurationDesc, lockWaitDesc, encodedBytesDesc,
	backupQueueDelayDesc, backupQueueDelaySummaryDesc,
}

// Histogram buckets: core.Histogram counts in power-of-two buckets; every
// second one is exported, which keeps 13 duration buckets from 1.024µs to
// 17.2s and 10 size buckets from 64 B to 16 MiB. Observations above the
// last bucket count in +Inf.
var (
	durationBuckets = bucketRange(10, 34) // 2^10 ns .. 2^34 ns
	sizeBuckets     = bucketRange(6, 24)  // 2^6 B .. 2^24 B
)

func bucketRange(lo, hi int) []int {
	var idx []int
	for i := lo; i <= hi; i += 2 {
		idx = append(idx, i)
	}
	return idx
}

// collector is a prometheus.Collector of one Manager.
type collector struct {
	m *core.Manager
}

// NewCollector returns a prometheus.Collector of m's statistics, named
// gomsm_*. Each Collect takes one m.Stats() snapshot.
func NewCollector(m *core.Manager) prometheus.Collector {
	return &collector{m: m}
}

// Describe sends the fixed set of descriptors; node ids are label values,
// so the set does not change with SetNodes.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect sends the metrics of one Stats snapshot.
// Longer than 50 lines: one line per metric, in the order of Stats.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	counter(requestsDesc, s.Requests, "all")
	counter(requestsDesc, s.RequestsWithSession, "with_session")
	counter(requestsDesc, s.RequestsIgnored, "ignored")
	counter(invalidIDsDesc, s.InvalidIDs)

	counter(sessionsDesc, s.SessionsCreated, "created")
	counter(sessionsDesc, s.SessionsExpired, "expired")
	counter(sessionsDesc, s.SessionsLoaded, "loaded")
	counter(sessionsDesc, s.SessionsNotFound, "not_found")
	counter(sessionsDesc, s.SessionsRelocated, "relocated")
	counter(sessionsDesc, s.SessionsInvalidated, "invalidated")
	counter(sessionsDesc, s.SessionsCorrupt, "corrupt")
	counter(sessionsDesc, s.SessionsPacked, "packed")
	counter(sessionsDesc, s.SessionsUnavailable, "unavailable")
	counter(sessionsDesc, s.SessionsEvicted, "evicted")
	counter(sessionsDesc, s.SessionsResent, "resent")
	counter(sessionsDesc, s.SessionsRevoked, "revoked")
	gauge(localSessionsDesc, float64(s.LocalSessions))

	counter(backupsDesc, s.BackupsOK, "ok")
	counter(backupsDesc, s.BackupsFailed, "failed")
	counter(backupsDesc, s.BackupsUnchanged, "unchanged")
	counter(backupsDesc, s.BackupsTimedOut, "timed_out")
	counter(backupsDesc, s.BackupsTooLarge, "too_large")
	counter(backupsDesc, s.BackupsDropped, "dropped")
	counter(backupsDesc, s.SaveConflicts, "conflict")
	counter(savesFailedDesc, s.SavesFailed)
	counter(savesOneCopyDesc, s.SavesOneCopy)
	gauge(backupQueueDesc, float64(s.BackupQueue))
	counter(touchesDesc, s.Touches)
	counter(encodeErrorsDesc, s.EncodeErrors)
	counter(decodeErrorsDesc, s.DecodeErrors)
	counter(lateCookiesDesc, s.LateCookies)
	counter(eventsDroppedDesc, s.EventsDropped)
	counter(principalChecksDesc, s.PrincipalChecks)

	for _, n := range s.Nodes {
		up := 0.0
		if n.Up {
			up = 1
		}
		gauge(nodeUpDesc, up, n.ID)
		gauge(nodeInfoDesc, 1, n.ID, n.Addr, strconv.FormatBool(n.Failover))
		for op, results := range n.Ops {
			for result, v := range results {
				counter(opsDesc, v, n.ID, op, result)
			}
		}
		for command, v := range n.Fallbacks {
			counter(fallbacksDesc, v, n.ID, command)
		}
	}
	counter(transitionsDesc, s.NodeUpEvents, "up")
	counter(transitionsDesc, s.NodeDownEvents, "down")
	enabled := 0.0
	if c.m.Enabled() {
		enabled = 1
	}
	gauge(enabledDesc, enabled)

	counter(lockWaitsDesc, s.LockWaits)
	counter(lockTimeoutsDesc, s.LockTimeouts)
	counter(loadsFromBackupDesc, s.LoadsFromBackup)
	counter(decodesSavedDesc, s.DecodesSaved)

	ch <- histogram(backupDurationDesc, s.BackupLatency, 1e-9, durationBuckets)
	ch <- histogram(loadDurationDesc, s.LoadLatency, 1e-9, durationBuckets)
	ch <- histogram(lockWaitDesc, s.LockWait, 1e-9, durationBuckets)
	ch <- histogram(encodedBytesDesc, s.EncodedSize, 1, sizeBuckets)
	ch <- histogram(backupQueueDelayDesc, s.BackupQueueDelay, 1e-9, durationBuckets)
	var delayCount uint64
	for _, n := range s.BackupQueueDelay.Buckets {
		delayCount += n
	}
	ch <- prometheus.MustNewConstSummary(backupQueueDelaySummaryDesc, delayCount, float64(s.BackupQueueDelay.Sum)*1e-9,
		map[float64]float64{0.5: s.BackupQueueDelayP50.Seconds(), 0.99: s.BackupQueueDelayP99.Seconds()})
}

// histogram converts h into a constant Prometheus histogram with the
// buckets idx of h, their bounds multiplied by scale (1e-9: nanoseconds to
// seconds). Prometheus buckets are cumulative and inclusive (le); core
// buckets are exclusive (< 2^i), so an observation of exactly 2^i units
// lands one bucket higher: one unit of error, a nanosecond or a byte.
//
// The count is the sum of the buckets, not h.Count: the snapshot reads its
// fields one by one while requests go on, and a count below the highest
// bucket would make the histogram inconsistent.
func histogram(d *prometheus.Desc, h core.Histogram, scale float64, idx []int) prometheus.Metric {
	buckets := make(map[float64]uint64, len(idx))
	var cum uint64
	next := 0
	for i, n := range h.Buckets {
		cum += n
		if next < len(idx) && idx[next] == i {
			buckets[float64(h.UpperBound(i))*scale] = cum
			next++
		}
	}
	return prometheus.MustNewConstHistogram(d, cum, float64(h.Sum)*scale, buckets)
}
