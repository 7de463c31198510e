package core

import (
	"math"
	"testing"
	"time"
)

// A session's two times are instants (8 bytes each, not time.Time's 24);
// these check that they say what the time.Time did.
func TestInstantKeepsTheTime(t *testing.T) {
	now := time.Now()
	if got := instantOf(now).time(); !got.Equal(now) {
		t.Errorf("instantOf(now).time() = %v, want %v", got, now)
	}
	hourAgo := now.Add(-time.Hour)
	if got := instantOf(hourAgo).age(instantOf(now)); got != time.Hour {
		t.Errorf("age of an hour ago = %v, want 1h", got)
	}
	// A time from elsewhere (an envelope's: no monotonic reading) keeps
	// its wall clock reading.
	wall := time.Date(2026, 12, 4, 10, 30, 0, 123, time.UTC)
	if got := instantOf(wall).time(); !got.Equal(wall) {
		t.Errorf("a wall-clock time came back as %v, want %v", got, wall)
	}
	if instantOf(processStart) == 0 {
		t.Error("processStart itself became the zero instant")
	}
}

func TestInstantZeroAndExtremes(t *testing.T) {
	now := instantOf(time.Now())
	if instantOf(time.Time{}) != 0 || !instant(0).time().IsZero() {
		t.Error("the zero time does not round-trip as the zero instant")
	}
	if got := instant(0).age(now); got != math.MaxInt64 {
		t.Errorf("age of the zero time = %v, want the longest Duration", got)
	}
	// Times a Duration cannot reach from processStart (a corrupt
	// envelope's year 1 or 9999) saturate, and so do their ages.
	ancient := instantOf(time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC))
	if got := ancient.age(now); got != math.MaxInt64 {
		t.Errorf("age of year 1 = %v, want the longest Duration", got)
	}
	future := instantOf(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if got := future.age(now); got >= 0 {
		t.Errorf("age of year 9999 = %v, want negative", got)
	}
	if got := future.age(ancient); got != math.MinInt64 {
		t.Errorf("year 9999 seen from year 1 = %v, want the most negative Duration", got)
	}
}

// A session's expiry reads its instants: idle past MaxInactive, or older
// than MaxLifetime, or neither.
func TestExpiredReadsInstants(t *testing.T) {
	now := time.Now()
	d := &sessionData{created: instantOf(now.Add(-2 * time.Hour)), lastAccessed: instantOf(now.Add(-time.Minute)), maxInactive: 30 * time.Minute}
	if d.expired(now, 3*time.Hour) {
		t.Error("expired: idle 1m of 30m, 2h old of 3h")
	}
	if !d.expired(now, time.Hour) {
		t.Error("not expired: 2h old, MaxLifetime 1h")
	}
	d.lastAccessed = instantOf(now.Add(-31 * time.Minute))
	if !d.expired(now, 0) {
		t.Error("not expired: idle 31m, MaxInactive 30m")
	}
}
