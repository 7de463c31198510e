package codec

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Decode limits for attribute values. Memcached items are 1 MB by default,
// so these are far above what a real session holds, yet they stop a hostile
// header from making the decoder allocate out of proportion to the input.
const (
	cborMaxNestedLevels  = 32
	cborMaxArrayElements = 1 << 17
	cborMaxMapPairs      = 1 << 16
)

// CBOR is the default [Codec], named "cbor" (RFC 8949, via
// github.com/fxamacker/cbor/v2).
//
// Encoding is deterministic ("core deterministic": sorted map keys, shortest
// forms, no indefinite lengths), so equal values give equal bytes and equal
// sessions hash equal. A time.Time is written as an RFC 3339 text with
// nanoseconds and its UTC offset, under tag 0.
//
// Decoding into a pointer to T follows the cbor package's rules, much like
// encoding/json (exported fields, case-insensitive names, `cbor` or `json`
// struct tags). Decoding into a *any gives: int64 for integers (big.Int past
// int64), float64, bool, string, []byte, time.Time for tagged times, []any
// for arrays, and map[string]any for maps whose keys are all text; a value
// holding any map with other keys decodes with map[any]any maps instead.
// Invalid UTF-8 in text is kept as is, like in a Go string. Decoding limits
// nesting to 32 levels, arrays to 131072 elements and maps to 65536 pairs,
// and refuses indefinite lengths (Marshal never writes them). Decoding into
// an any, or into a type that holds interfaces or maps, first checks, with
// a walk over the item heads that allocates nothing, that the decoded form
// would take at most ten times the input plus 1 MiB of memory, and returns
// an error wrapping [ErrTooCostly] otherwise: millions of empty maps, say.
// Values gomsm wrote stay below that unless they are huge collections of
// tiny items decoded into an any: an array of more than about 170,000
// small numbers or booleans, or of more than a few thousand small maps.
// Decode those into a concrete type (not checked: it costs what the type
// needs), or keep them in one []byte.
var CBOR Codec = newCBORCodec()

type cborCodec struct {
	enc      cbor.EncMode
	dec      cbor.DecMode // maps into any become map[string]any
	decAnyKV cbor.DecMode // fallback: maps into any become map[any]any
}

func newCBORCodec() *cborCodec {
	eo := cbor.CoreDetEncOptions()
	eo.Time = cbor.TimeRFC3339Nano
	eo.TimeTag = cbor.EncTagRequired
	enc, err := eo.EncMode()
	if err != nil {
		panic("codec: cbor encode options: " + err.Error())
	}
	do := cbor.DecOptions{
		MaxNestedLevels:  cborMaxNestedLevels,
		MaxArrayElements: cborMaxArrayElements,
		MaxMapPairs:      cborMaxMapPairs,
		// gomsm never writes indefinite lengths; refusing them lets
		// scanCBOR see every length before the decoder allocates.
		IndefLength:    cbor.IndefLengthForbidden,
		IntDec:         cbor.IntDecConvertSignedOrBigInt,
		UTF8:           cbor.UTF8DecodeInvalid,
		DefaultMapType: reflect.TypeFor[map[string]any](),
	}
	dec, err := do.DecMode()
	if err != nil {
		panic("codec: cbor decode options: " + err.Error())
	}
	do.DefaultMapType = nil
	decAnyKV, err := do.DecMode()
	if err != nil {
		panic("codec: cbor decode options: " + err.Error())
	}
	return &cborCodec{enc: enc, dec: dec, decAnyKV: decAnyKV}
}

func (*cborCodec) Name() string { return "cbor" }

func (c *cborCodec) Marshal(v any) ([]byte, error) {
	return c.enc.Marshal(v)
}

func (c *cborCodec) Unmarshal(data []byte, v any) error {
	dec := c.dec
	if !holdsGeneric(reflect.TypeOf(v)) {
		return dec.Unmarshal(data, v)
	}
	if s, ok := scanCBOR(data, 2*cborMaxNestedLevels+2); ok {
		if cost := s.cost(); cost > allocBudget(len(data)) {
			return fmt.Errorf("%w: %d bytes of CBOR would take about %d bytes decoded, over the budget of %d",
				ErrTooCostly, len(data), cost, allocBudget(len(data)))
		}
		if _, isAny := v.(*any); isAny && s.anyKeys {
			// Some map key is not text: map[string]any cannot hold it.
			// Decode once, straight into map[any]any maps.
			dec = c.decAnyKV
		}
	}
	err := dec.Unmarshal(data, v)
	if p, ok := v.(*any); ok && err != nil && dec == c.dec {
		// A map with non-text keys cannot become map[string]any; decode the
		// whole value again with map[any]any maps rather than fail.
		var te *cbor.UnmarshalTypeError
		if errors.As(err, &te) {
			*p = nil
			if err2 := c.decAnyKV.Unmarshal(data, v); err2 == nil {
				return nil
			}
		}
	}
	return err
}

// genericTypes caches holdsGeneric.
var genericTypes sync.Map // reflect.Type -> bool

// holdsGeneric reports whether decoding into t can build values whose
// shape the data chooses: interfaces (which become []any and maps) and
// maps. Decoding into other types allocates what the type needs, which
// the cost budget does not model; only the generic parts can blow up.
func holdsGeneric(t reflect.Type) bool {
	if t == nil {
		return true
	}
	if v, ok := genericTypes.Load(t); ok {
		return v.(bool)
	}
	g := generic(t, map[reflect.Type]bool{})
	genericTypes.Store(t, g)
	return g
}

func generic(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: decided where it started
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface, reflect.Map:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return generic(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if generic(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
