package promstats

import (
	"math"
	"testing"

	"github.com/gomsm/msm/core"
	dto "github.com/prometheus/client_model/go"
)

func TestHistogramConversion(t *testing.T) {
	var h core.Histogram
	h.Buckets[0] = 1  // v == 0
	h.Buckets[11] = 3 // 1024 <= v < 2048 ns
	h.Buckets[20] = 2 // ~0.5 ms .. 1 ms
	h.Buckets[len(h.Buckets)-1] = 1
	h.Count = 6 // one short: an observation in flight when the snapshot was taken
	h.Sum = 3_000_000_000

	var m dto.Metric
	if err := histogram(backupDurationDesc, h, 1e-9, durationBuckets).Write(&m); err != nil {
		t.Fatal(err)
	}
	got := m.GetHistogram()
	if got.GetSampleCount() != 7 {
		t.Errorf("count = %d, want 7 (the buckets' total)", got.GetSampleCount())
	}
	if got.GetSampleSum() != 3 {
		t.Errorf("sum = %v s, want 3", got.GetSampleSum())
	}
	if n := len(got.GetBucket()); n != 13 {
		t.Fatalf("%d buckets, want 13", n)
	}
	want := map[float64]uint64{
		1024e-9:                  1, // v == 0 only: 1024..2047 is above 1024
		4096e-9:                  4,
		math.Ldexp(1, 20) * 1e-9: 6,
		math.Ldexp(1, 34) * 1e-9: 6, // the overflow bucket is only in +Inf
	}
	var last uint64
	for _, b := range got.GetBucket() {
		if b.GetCumulativeCount() < last {
			t.Errorf("bucket le=%v: count %d below the previous %d", b.GetUpperBound(), b.GetCumulativeCount(), last)
		}
		last = b.GetCumulativeCount()
		if w, ok := want[b.GetUpperBound()]; ok {
			if b.GetCumulativeCount() != w {
				t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
			}
			delete(want, b.GetUpperBound())
		}
	}
	if len(want) > 0 {
		t.Errorf("buckets missing: %v", want)
	}

	if err := histogram(encodedBytesDesc, core.Histogram{}, 1, sizeBuckets).Write(&m); err != nil {
		t.Fatal(err)
	}
	if b := m.GetHistogram().GetBucket(); len(b) != 10 || b[0].GetUpperBound() != 64 || b[9].GetUpperBound() != 16<<20 {
		t.Errorf("size buckets: %d, first %v, last %v; want 10 from 64 to 16 MiB", len(b), b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
	}
}
