package codec

import (
	"errors"
	"fmt"
	"sync"
)

// Codec turns one attribute value into bytes and back.
//
// Implementations must be safe for concurrent use. Name is stored in every
// [Envelope] the codec encodes, so it must never change once data has been
// written with it.
type Codec interface {
	// Name returns the codec's registry name, such as "cbor", "gob" or
	// "json". It is stored in the envelope and looked up with [ByName].
	Name() string

	// Marshal encodes v. It returns an error, and no bytes, when v cannot
	// be encoded.
	Marshal(v any) ([]byte, error)

	// Unmarshal decodes data, which Marshal produced, into v. v must be a
	// non-nil pointer, either to the value's own type T or to an any, in
	// which case the codec picks the Go types (see each codec's doc).
	// data is neither modified nor kept: it is a view into the session's
	// stored encodings, which later reads of the session share (the
	// built-in codecs copy what they decode).
	Unmarshal(data []byte, v any) error
}

// ErrUnknownCodec is a sentinel for a codec name that [ByName] does not
// know. The package itself never returns it; callers that turn a ByName
// miss into an error wrap it, so errors.Is(err, ErrUnknownCodec) works.
var ErrUnknownCodec = errors.New("codec: unknown codec")

// maxNameLen bounds a codec name; DecodeEnvelope rejects longer names as corrupt.
const maxNameLen = 64

var registry = struct {
	sync.RWMutex
	m map[string]Codec
}{m: map[string]Codec{}}

func init() {
	for _, c := range []Codec{CBOR, Gob, JSON} {
		registry.m[c.Name()] = c
	}
}

// ByName returns the codec registered under name and true, or nil and false
// when no codec has that name. The built-ins "cbor", "gob" and "json" are
// always registered. It is safe for concurrent use.
func ByName(name string) (Codec, bool) {
	registry.RLock()
	c, ok := registry.m[name]
	registry.RUnlock()
	return c, ok
}

// Register makes c available to [ByName] under c.Name(). It is safe for
// concurrent use and is meant to be called from an init function.
//
// Register panics if c is nil, if its name is empty or longer than 64 bytes,
// or if a codec with the same name is already registered (the built-ins
// included): the name is stored with the data, so it must keep meaning the
// same encoding.
func Register(c Codec) {
	if c == nil {
		panic("codec: Register of nil Codec")
	}
	name := c.Name()
	if name == "" || len(name) > maxNameLen {
		panic(fmt.Sprintf("codec: Register of codec with invalid name %q (want 1 to %d bytes)", name, maxNameLen))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[name]; dup {
		panic("codec: Register called twice for codec " + name)
	}
	registry.m[name] = c
}
