package core

import (
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core/internal/envelope"
)

// The session as held in memory (sessionData, shared by the requests of
// one session on this instance) and its attributes; which values can be
// changed in place by a handler that read them (mutable).

// attr is one session attribute. It holds the live value, the encoded bytes,
// or both: a session loaded from memcached keeps the bytes until a Get or
// GetAs decodes them, so GetAs[T] can decode into T on any instance.
type attr struct {
	value    any
	hasValue bool
	// enc is the encoding of value; encOK says it is current. A Set, or a
	// Get of a value that can be changed in place, makes it stale.
	enc   []byte
	encOK bool
	// hash is attrHash of enc when hashed; only setEnc changes enc, and it
	// clears hashed, so a hash never outlives its encoding.
	hash   uint64
	hashed bool
	// strInEnc: the value is a string, the bytes of enc after its CBOR
	// head (unpacked from a block: read in place, never boxed unless Get
	// asks for an any).
	strInEnc bool
}

// sessionData is one session as held in local memory, shared by every
// request of that session on this instance.
type sessionData struct {
	mu           sync.Mutex
	base, node   string
	created      instant
	lastAccessed instant
	maxInactive  time.Duration
	attrs        map[string]*attr

	// backup state
	lastHash uint64 // hash of the attributes in memcached
	// lastSync is when the last set or touch reached memcached (or was
	// queued), in Unix nanoseconds, 0 for never: a time.Time would take 16
	// bytes more of every session, and a million may be kept.
	lastSync int64
	version  uint64 // save counter stored in the envelope
	seq      uint64 // backup jobs queued; a job older than the newest is dropped
	savedSeq uint64 // seq of the last backup that reached memcached
	// writeMu orders the writes of one session that do not go through its
	// worker (non-sticky primary writes, made by request goroutines): a
	// newer version is never overwritten by an older one.
	writeMu sync.Mutex
	worker  int // backup worker, fixed per session for ordering
	// The flags side by side: a session's size matters when a million
	// are kept.
	backedUp bool // memcached holds the attributes that hash to lastHash
	removed  bool // invalidated or expired: no more backups
	// tooLarge: the last attempt to back the session up found it over
	// MaxSessionBytes; it is not tried again until it changes.
	tooLarge bool
	// stale (non-sticky): a save of this copy failed, so it may be behind
	// memcached's (another instance stored a newer version); no request
	// that still holds it may save a change of its own built on it.
	stale bool
	// inUse counts the requests holding the session; it is not packed
	// while one is (a handler may still hold a value it read).
	inUse int32

	// packed holds the attributes as one block (compact.go; attrs is nil
	// meanwhile): a sticky session between requests when that loses
	// nothing (freeze), any idle one after Config.CompactAfter (pack).
	// attributes() unpacks it.
	packed []byte
}

// attributes returns the attribute table, unpacking a packed session.
// Called with d.mu held.
func (d *sessionData) attributes() map[string]*attr {
	if d.packed != nil {
		d.unpack()
	}
	return d.attrs
}

// pack encodes every attribute and packs the session (compact.go), unless
// an attribute cannot be encoded (then the session stays as it is). Values
// come back as the codec decodes them. Called with d.mu held.
func (d *sessionData) pack(c codec.Codec) bool {
	if d.packed != nil || d.inUse > 0 || len(d.attrs) == 0 {
		return false
	}
	for _, a := range d.attrs {
		if !a.encOK {
			b, err := envelope.Marshal(c, a.value)
			if err != nil {
				return false
			}
			a.setEnc(b)
		}
	}
	d.packed, d.attrs = packAttrs(d.attrs), nil
	return true
}

// sinceSync is how long ago lastSync was; a clock stepped back makes it
// due at once rather than never (lastSync is wall-clock time).
func (d *sessionData) sinceSync(now time.Time) time.Duration {
	if e := time.Duration(now.UnixNano() - d.lastSync); e >= 0 {
		return e
	}
	return time.Duration(1<<63 - 1)
}

func (d *sessionData) expired(now time.Time, maxLifetime time.Duration) bool {
	at := instantOf(now)
	if d.maxInactive > 0 && d.lastAccessed.age(at) > d.maxInactive {
		return true
	}
	return maxLifetime > 0 && d.created.age(at) > maxLifetime
}

// instant is a point in time in 8 bytes where a time.Time takes 24 (a
// million sessions are kept, each with two): nanoseconds since
// processStart. A time read from this process's clock keeps its monotonic
// meaning (t.Sub(processStart) uses the monotonic clock, as time.Time's
// own comparisons do), so a wall clock stepped meanwhile moves no local
// session's expiry; a time from elsewhere (a loaded envelope's) counts
// from processStart's wall clock reading, as it did as a time.Time. 0 is
// the zero time.Time.
type instant int64

// processStart is the origin of every instant.
var processStart = time.Now()

// instantOf returns t as an instant.
func instantOf(t time.Time) instant {
	if t.IsZero() {
		return 0
	}
	if i := instant(t.Sub(processStart)); i != 0 {
		return i
	}
	return 1 // processStart itself: 0 stands for the zero time
}

// time returns i as a time.Time (the zero time for 0).
func (i instant) time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return processStart.Add(time.Duration(i))
}

// age is how long before now i is; the zero time is as long ago as a
// Duration can say, and a difference too large for one saturates, as
// time.Time's Sub does.
func (i instant) age(now instant) time.Duration {
	if i == 0 {
		return math.MaxInt64
	}
	d := now - i
	switch {
	case now >= i && d < 0:
		return math.MaxInt64
	case now < i && d >= 0:
		return math.MinInt64
	}
	return time.Duration(d)
}

// mutableTypes caches mutable's answer per type.
var mutableTypes sync.Map // reflect.Type -> bool

var timeType = reflect.TypeFor[time.Time]()

// mutable reports whether v could be changed in place by its holder: maps,
// slices, pointers, interfaces and structs or arrays holding them. Such a
// value read with Get makes the session "maybe changed".
func mutable(v any) bool {
	switch v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, complex64, complex128, time.Time, time.Duration:
		return false // the common cases, without reflection
	}
	t := reflect.TypeOf(v)
	if m, ok := mutableTypes.Load(t); ok {
		return m.(bool)
	}
	m := mutableType(t, 0)
	mutableTypes.Store(t, m)
	return m
}

func mutableType(t reflect.Type, depth int) bool {
	if depth > 16 {
		return true
	}
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return mutableType(t.Elem(), depth+1)
	case reflect.Struct:
		if t == timeType {
			return false
		}
		for i := range t.NumField() {
			if mutableType(t.Field(i).Type, depth+1) {
				return true
			}
		}
	}
	return false
}
