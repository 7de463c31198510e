package core_test

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

func TestHistogramQuantile(t *testing.T) {
	var h core.Histogram
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("empty: p50 = %v, want 0", got)
	}
	h.Buckets[0] = 10 // v == 0
	if got := h.Quantile(0.99); got != 0 {
		t.Errorf("zeros only: p99 = %v, want 0", got)
	}

	h = core.Histogram{}
	h.Buckets[11] = 100 // 1024 <= v < 2048
	if got := h.Quantile(0.5); got != 1536 {
		t.Errorf("one bucket: p50 = %v, want 1536 (the middle of [1024, 2048))", got)
	}

	h = core.Histogram{}
	h.Buckets[10] = 99 // 512 <= v < 1024
	h.Buckets[21] = 1  // 2^20 <= v < 2^21
	h.Count = 98       // a snapshot taken mid-observation: the buckets' total counts
	for _, c := range []struct {
		q    float64
		want float64
	}{
		{0, 512}, {0.5, 512 + 512*50.0/99}, {0.99, 1024}, {1, 1 << 21}, {2, 1 << 21}, {-1, 512},
	} {
		if got := h.Quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
}

// TestBackupQueueDelayRecorded checks that every asynchronous backup
// records its delay from submission to write, that the delay contains the
// write itself, and that Stats, expvar and ResetStats carry it.
func TestBackupQueueDelayRecorded(t *testing.T) {
	mc := msmtest.Start(t)
	a := start(t, core.Config{Nodes: nodesOf(mc)}, shop()) // asynchronous backup
	name := monExpvarName(t, "delay")
	if err := a.m.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}

	const sessions = 20
	for i := range sessions {
		newBrowser(t).get(a, "/set?name="+strconv.Itoa(i))
	}
	waitFor(t, 10*time.Second, "every backup written and its delay recorded", func() bool {
		st := a.m.Stats()
		return st.BackupsOK == sessions && st.BackupQueueDelay.Count == sessions
	})
	st := a.m.Stats()
	if st.BackupQueueDelay.Sum < st.BackupLatency.Sum {
		t.Errorf("queue delay sum %v below the write latency sum %v: the write must be inside the delay",
			time.Duration(st.BackupQueueDelay.Sum), time.Duration(st.BackupLatency.Sum))
	}
	if st.BackupQueueDelayP50 <= 0 || st.BackupQueueDelayP99 < st.BackupQueueDelayP50 {
		t.Errorf("p50 %v p99 %v: want 0 < p50 <= p99", st.BackupQueueDelayP50, st.BackupQueueDelayP99)
	}
	if ev := monExpvar(t, name); ev.BackupQueueDelay.Count != sessions || ev.BackupQueueDelayP99 <= 0 {
		t.Errorf("expvar: count %d p99 %v, want %d and > 0", ev.BackupQueueDelay.Count, ev.BackupQueueDelayP99, sessions)
	}

	// An unchanged session queues nothing, so records nothing.
	br := newBrowser(t)
	br.get(a, "/set?name=x")
	waitFor(t, 10*time.Second, "the new session's delay", func() bool {
		return a.m.Stats().BackupQueueDelay.Count == sessions+1
	})
	br.get(a, "/set?name=x")
	if st := a.m.Stats(); st.BackupsUnchanged != 1 || st.BackupQueueDelay.Count != sessions+1 {
		t.Fatalf("BackupsUnchanged = %d, delay count %d; want 1 and %d", st.BackupsUnchanged, st.BackupQueueDelay.Count, sessions+1)
	}
	a.m.ResetStats()
	if st := a.m.Stats(); st.BackupQueueDelay.Count != 0 || st.BackupQueueDelayP50 != 0 || st.BackupQueueDelayP99 != 0 {
		t.Errorf("after ResetStats: count %d p50 %v p99 %v, want zeros", st.BackupQueueDelay.Count, st.BackupQueueDelayP50, st.BackupQueueDelayP99)
	}
}
