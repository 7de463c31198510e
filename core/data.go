package core

import (
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
}

// sessionData is one session as held in local memory, shared by every
// request of that session on this instance.
type sessionData struct {
	mu           sync.Mutex
	base, node   string
	created      time.Time
	lastAccessed time.Time
	maxInactive  time.Duration
	attrs        map[string]*attr

	// backup state
	lastHash uint64    // hash of the attributes in memcached
	backedUp bool      // memcached holds the attributes that hash to lastHash
	lastSync time.Time // last set or touch that reached memcached (or was queued)
	version  uint64    // save counter stored in the envelope
	seq      uint64    // backup jobs queued; a job older than the newest is dropped
	savedSeq uint64    // seq of the last backup that reached memcached
	// tooLarge: the last attempt to back the session up found it over
	// MaxSessionBytes; it is not tried again until it changes.
	tooLarge bool
	// writeMu orders the writes of one session that do not go through its
	// worker (non-sticky primary writes, made by request goroutines): a
	// newer version is never overwritten by an older one.
	writeMu sync.Mutex
	worker  int  // backup worker, fixed per session for ordering
	removed bool // invalidated or expired: no more backups

	// packed holds the attributes of a session idle for Config.CompactAfter
	// as one encoded block (attrs is nil meanwhile): an idle session costs
	// little more than its encoded size. attributes() unpacks it.
	packed []byte
	// inUse counts the requests holding the session; it is not packed
	// while one is (a handler may still hold a value it read).
	inUse int
}

// attributes returns the attribute table, unpacking a packed session.
// Called with d.mu held.
func (d *sessionData) attributes() map[string]*attr {
	if d.packed != nil {
		env, err := codec.DecodeEnvelope(d.packed)
		d.packed = nil
		d.attrs = map[string]*attr{}
		if err == nil { // it was written by pack, so it always decodes
			for k, b := range env.Attributes {
				d.attrs[k] = &attr{enc: b, encOK: true}
			}
		}
	}
	return d.attrs
}

// pack encodes every attribute into one block and drops the table, unless
// an attribute cannot be encoded (then the session stays as it is).
// Called with d.mu held.
func (d *sessionData) pack(c codec.Codec) bool {
	if d.packed != nil || d.inUse > 0 || len(d.attrs) == 0 {
		return false
	}
	enc := make(map[string][]byte, len(d.attrs))
	for k, a := range d.attrs {
		if !a.encOK {
			b, err := envelope.Marshal(c, a.value)
			if err != nil {
				return false
			}
			a.setEnc(b)
		}
		enc[k] = a.enc
	}
	blob, err := codec.EncodeEnvelope(&codec.Envelope{Codec: c.Name(), Attributes: enc})
	if err != nil {
		return false
	}
	d.packed, d.attrs = blob, nil
	return true
}

func (d *sessionData) expired(now time.Time, maxLifetime time.Duration) bool {
	if d.maxInactive > 0 && now.Sub(d.lastAccessed) > d.maxInactive {
		return true
	}
	return maxLifetime > 0 && now.Sub(d.created) > maxLifetime
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
