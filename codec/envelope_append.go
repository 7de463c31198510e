package codec

import (
	"slices"
	"strings"
)

// appendEnvelope appends w as deterministic CBOR, byte for byte what
// envEnc.Marshal(&w) gives (the envelope tests compare the two on random
// envelopes), without reflection and without encoding the attribute map
// into a scratch buffer to sort it: a session is saved on every change,
// and the reflective encoder was most of a save's CPU.
// Longer than 50 lines: the envelope's fields in wire order, each
// appended in place; split, the order would be spread over functions.
func appendEnvelope(b []byte, w *wireEnvelope) []byte {
	fields := 1 // Codec is always there
	if w.Version != 0 {
		fields++
	}
	if w.CreatedAt != nil {
		fields++
	}
	if w.LastAccessed != nil {
		fields++
	}
	if w.MaxInactive != 0 {
		fields++
	}
	if len(w.Attributes) > 0 {
		fields++
	}
	// Keys 1..6 encode as the single bytes 0x01..0x06: in field order is
	// in sorted order.
	b = appendHead(b, cborMap, uint64(fields))
	b = append(b, 1)
	b = appendHead(b, cborText, uint64(len(w.Codec)))
	b = append(b, w.Codec...)
	if w.Version != 0 {
		b = append(b, 2)
		b = appendHead(b, cborUint, w.Version)
	}
	if w.CreatedAt != nil {
		b = appendInt(append(b, 3), *w.CreatedAt)
	}
	if w.LastAccessed != nil {
		b = appendInt(append(b, 4), *w.LastAccessed)
	}
	if w.MaxInactive != 0 {
		b = appendInt(append(b, 5), w.MaxInactive)
	}
	if len(w.Attributes) > 0 {
		b = append(b, 6)
		b = appendHead(b, cborMap, uint64(len(w.Attributes)))
		var stack [hashStackKeys]string
		keys := stack[:0]
		for k := range w.Attributes {
			keys = append(keys, k)
		}
		// Core deterministic order: by the bytes of the encoded key, which
		// for text strings is shorter first, then bytewise.
		slices.SortFunc(keys, func(a, b string) int {
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys {
			b = appendHead(b, cborText, uint64(len(k)))
			b = append(b, k...)
			v := w.Attributes[k]
			b = appendHead(b, cborBytes, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// CBOR major types, shifted into place.
const (
	cborUint  = 0 << 5
	cborNeg   = 1 << 5
	cborBytes = 2 << 5
	cborText  = 3 << 5
	cborMap   = 5 << 5
)

// appendHead appends the shortest head of major type major with argument n.
func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= 0xff:
		return append(b, major|24, byte(n))
	case n <= 0xffff:
		return append(b, major|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendInt appends n as a CBOR integer: major type 0 for n >= 0, 1 (of
// -1-n) below.
func appendInt(b []byte, n int64) []byte {
	if n >= 0 {
		return appendHead(b, cborUint, uint64(n))
	}
	return appendHead(b, cborNeg, uint64(-1-n))
}
