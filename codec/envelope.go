package codec

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// FormatVersion is the version of the envelope wire format that
// [EncodeEnvelope] writes and the only one [DecodeEnvelope] accepts. It
// changes only when old readers could misread new blobs; fields added in a
// way that old readers may ignore keep it.
const FormatVersion = 1

// ErrCorrupt is wrapped by every error from [DecodeEnvelope]: foreign or
// truncated bytes, a blob of another format version, a body of the wrong
// shape. Check it with errors.Is.
var ErrCorrupt = errors.New("codec: corrupt session envelope")

// magic starts every envelope; the byte after it is the format version.
const magic = "MSM"

const headerLen = len(magic) + 1

// maxAttributes bounds the attribute count DecodeEnvelope accepts.
const maxAttributes = 1 << 16

// Envelope is what gomsm stores in memcached for one session.
type Envelope struct {
	// Codec is the name of the [Codec] that encoded Attributes, for
	// [ByName]. EncodeEnvelope requires it; DecodeEnvelope does not check
	// that it is registered.
	Codec string

	// Version is the save counter: it grows with each save, and the
	// non-sticky mode compares copies of a session by it.
	Version uint64

	// CreatedAt is when the session was created. It round-trips to the
	// nanosecond and decodes in UTC; the zero time stays zero.
	CreatedAt time.Time

	// LastAccessed is when a request last used the session, with the same
	// precision as CreatedAt.
	LastAccessed time.Time

	// MaxInactive is how long the session lives without a request; zero or
	// negative means it never expires.
	MaxInactive time.Duration

	// Attributes maps each attribute name to its value encoded on its own
	// with Codec. DecodeEnvelope always returns a non-nil map.
	Attributes map[string][]byte
}

// wireEnvelope is the CBOR body: a map with small integer keys, so unknown
// keys from a newer writer of the same FormatVersion are skipped. Times are
// Unix nanoseconds, absent for the zero time.
type wireEnvelope struct {
	Codec        string            `cbor:"1,keyasint"`
	Version      uint64            `cbor:"2,keyasint,omitempty"`
	CreatedAt    *int64            `cbor:"3,keyasint,omitempty"`
	LastAccessed *int64            `cbor:"4,keyasint,omitempty"`
	MaxInactive  int64             `cbor:"5,keyasint,omitempty"`
	Attributes   map[string][]byte `cbor:"6,keyasint,omitempty"`
}

var (
	envEnc cbor.UserBufferEncMode
	envDec cbor.DecMode
)

func init() {
	eo := cbor.CoreDetEncOptions()
	eo.NilContainers = cbor.NilContainerAsEmpty
	var err error
	if envEnc, err = eo.UserBufferEncMode(); err != nil {
		panic("codec: envelope encode options: " + err.Error())
	}
	envDec, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      maxAttributes,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8DecodeInvalid, // attribute names are Go strings
	}.DecMode()
	if err != nil {
		panic("codec: envelope decode options: " + err.Error())
	}
}

// EncodeEnvelope returns the stored form of e: the 4-byte header "MSM" +
// FormatVersion, then e as deterministic CBOR, attribute values as byte
// strings in sorted key order. Equal envelopes give equal bytes. It fails if
// e is nil, e.Codec is empty or longer than 64 bytes, a non-zero time lies
// outside the years 1678 to 2262 (Unix nanoseconds in an int64), or
// DecodeEnvelope would refuse the result: more than 65536 attributes, or
// more tiny attributes than its memory budget allows ([ErrTooCostly]).
func EncodeEnvelope(e *Envelope) ([]byte, error) {
	if e == nil {
		return nil, errors.New("codec: EncodeEnvelope of nil Envelope")
	}
	if e.Codec == "" || len(e.Codec) > maxNameLen {
		return nil, fmt.Errorf("codec: envelope codec name %q must be 1 to %d bytes", e.Codec, maxNameLen)
	}
	if len(e.Attributes) > maxAttributes {
		// DecodeEnvelope would refuse it: never write a backup that cannot
		// be read back.
		return nil, fmt.Errorf("codec: %d attributes, at most %d", len(e.Attributes), maxAttributes)
	}
	w := wireEnvelope{
		Codec:       e.Codec,
		Version:     e.Version,
		MaxInactive: int64(e.MaxInactive),
		Attributes:  e.Attributes,
	}
	var err error
	if w.CreatedAt, err = unixNanos(e.CreatedAt); err != nil {
		return nil, fmt.Errorf("codec: envelope CreatedAt: %w", err)
	}
	if w.LastAccessed, err = unixNanos(e.LastAccessed); err != nil {
		return nil, fmt.Errorf("codec: envelope LastAccessed: %w", err)
	}

	size := headerLen + 64 + len(e.Codec)
	for k, v := range e.Attributes {
		size += len(k) + len(v) + 18 // two CBOR heads of at most 9 bytes
	}
	buf := make([]byte, 0, size)
	buf = append(buf, magic...)
	buf = append(buf, FormatVersion)
	buf = appendEnvelope(buf, &w)
	if err := checkEnvelopeCost(buf); err != nil {
		// DecodeEnvelope would refuse it: never write a backup that cannot
		// be read back.
		return nil, err
	}
	return buf, nil
}

// envAttrCost is what one attribute costs its reader besides the bytes of
// its name and value: its entry in Envelope.Attributes and in the caller's
// own per-attribute structures (core keeps a map of attribute records).
const envAttrCost = 128

// checkEnvelopeCost refuses an envelope whose decoding, with a session
// manager's per-attribute structures, would take more memory than
// allocBudget(len(data)): many tiny attributes. It allocates nothing.
func checkEnvelopeCost(data []byte) error {
	s, ok := scanCBOR(data[headerLen:], 8)
	if !ok {
		return nil // the decoder rejects it before allocating
	}
	// The envelope's own map has integer keys, but it decodes into a
	// struct; the attributes map has text keys.
	s.anyKeys = false
	attrs := s.pairs + 8*s.small // at most
	if cost := s.cost() + envAttrCost*attrs; cost > allocBudget(len(data)) {
		return fmt.Errorf("%w: %d bytes of envelope would take about %d bytes decoded, over the budget of %d",
			ErrTooCostly, len(data), cost, allocBudget(len(data)))
	}
	return nil
}

// DecodeEnvelope parses bytes written by [EncodeEnvelope]. Every failure
// wraps [ErrCorrupt]: too short, wrong magic, a format version other than
// FormatVersion, CBOR that is malformed, of the wrong shape, followed by
// trailing bytes, with duplicate keys, more than 65536 attributes or an
// empty or over-long codec name, or so many tiny attributes that decoding
// them would take more than ten times len(data) plus 1 MiB of memory
// ([ErrTooCostly], checked before decoding). It never panics. Times come
// back in UTC.
func DecodeEnvelope(data []byte) (*Envelope, error) {
	if len(data) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	if string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, data[:len(magic)])
	}
	if v := data[len(magic)]; v != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", ErrCorrupt, v, FormatVersion)
	}
	if err := checkEnvelopeCost(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	w, ok := parseCanonical(data[headerLen:])
	if !ok {
		w = &wireEnvelope{}
		if err := envDec.Unmarshal(data[headerLen:], w); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	if w.Codec == "" || len(w.Codec) > maxNameLen || !utf8.ValidString(w.Codec) {
		return nil, fmt.Errorf("%w: invalid codec name %q", ErrCorrupt, w.Codec)
	}
	if w.Attributes == nil {
		w.Attributes = map[string][]byte{}
	}
	return &Envelope{
		Codec:        w.Codec,
		Version:      w.Version,
		CreatedAt:    fromUnixNanos(w.CreatedAt),
		LastAccessed: fromUnixNanos(w.LastAccessed),
		MaxInactive:  time.Duration(w.MaxInactive),
		Attributes:   w.Attributes,
	}, nil
}

// Unix nanoseconds fit in an int64 from 1677-09-21 to 2262-04-11.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

func unixNanos(t time.Time) (*int64, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minNanoTime) || t.After(maxNanoTime) {
		return nil, fmt.Errorf("time %s out of range", t)
	}
	n := t.UnixNano()
	return &n, nil
}

func fromUnixNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}
