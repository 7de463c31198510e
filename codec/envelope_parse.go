package codec

import (
	"math"
	"strings"
)

// parseCanonical decodes the body of an envelope as appendEnvelope writes
// it: field keys 1 to 6 in increasing order, each of its own type, the
// attributes' names in increasing deterministic order (so no duplicates),
// definite lengths, nothing after the body. It reports false for anything
// else, and DecodeEnvelope then uses the reflective decoder, which knows
// every other form (unknown keys of a newer writer, nulls) and refuses
// what is corrupt: this path only makes the common case cheap, it never
// decides what is valid. The names share one allocation, and so do the
// values (each capped at its own length).
func parseCanonical(b []byte) (*wireEnvelope, bool) {
	p := cborParser{b: b}
	n, ok := p.head(cborMap)
	if !ok || n > 6 {
		return nil, false
	}
	w := &wireEnvelope{}
	last := uint64(0)
	for range n {
		key, ok := p.head(cborUint)
		if !ok || key <= last || key > 6 {
			return nil, false
		}
		last = key
		switch key {
		case 1:
			s, ok := p.bytes(cborText)
			if !ok {
				return nil, false
			}
			w.Codec = string(s)
		case 2:
			if w.Version, ok = p.head(cborUint); !ok {
				return nil, false
			}
		case 3, 4, 5:
			v, ok := p.int()
			if !ok {
				return nil, false
			}
			switch key {
			case 3:
				w.CreatedAt = &v
			case 4:
				w.LastAccessed = &v
			case 5:
				w.MaxInactive = v
			}
		case 6:
			if w.Attributes, ok = p.attributes(); !ok {
				return nil, false
			}
		}
	}
	return w, len(p.b) == 0
}

type cborParser struct{ b []byte }

// head reads a head of major type major with a definite argument.
func (p *cborParser) head(major byte) (uint64, bool) {
	if len(p.b) == 0 || p.b[0]&0xe0 != major {
		return 0, false
	}
	ai := p.b[0] & 0x1f
	if ai < 24 {
		p.b = p.b[1:]
		return uint64(ai), true
	}
	if ai > 27 {
		return 0, false // reserved or indefinite
	}
	w := 1 << (ai - 24)
	if len(p.b) < 1+w {
		return 0, false
	}
	var n uint64
	for _, c := range p.b[1 : 1+w] {
		n = n<<8 | uint64(c)
	}
	p.b = p.b[1+w:]
	return n, true
}

// bytes reads a byte or text string of major type major: a view into the
// input.
func (p *cborParser) bytes(major byte) ([]byte, bool) {
	n, ok := p.head(major)
	if !ok || n > uint64(len(p.b)) {
		return nil, false
	}
	s := p.b[:n:n]
	p.b = p.b[n:]
	return s, true
}

// int reads an integer that fits an int64.
func (p *cborParser) int() (int64, bool) {
	if len(p.b) == 0 {
		return 0, false
	}
	neg := p.b[0]&0xe0 == cborNeg
	major := byte(cborUint)
	if neg {
		major = cborNeg
	}
	n, ok := p.head(major)
	if !ok || n > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -1 - int64(n), true
	}
	return int64(n), true
}

// attributes reads the attribute map: text names in increasing
// deterministic order, byte string values.
func (p *cborParser) attributes() (map[string][]byte, bool) {
	n, ok := p.head(cborMap)
	if !ok || n > maxAttributes {
		return nil, false
	}
	// A first pass finds the views and the sizes, a second copies them
	// into one block for the names and one for the values.
	type kv struct{ k, v []byte }
	var stack [hashStackKeys]kv
	pairs := stack[:0]
	keyBytes, valBytes := 0, 0
	var prev []byte
	for i := range n {
		k, ok := p.bytes(cborText)
		if !ok {
			return nil, false
		}
		if i > 0 && (len(k) < len(prev) || len(k) == len(prev) && string(k) <= string(prev)) {
			return nil, false // not in deterministic order, or a duplicate
		}
		prev = k
		v, ok := p.bytes(cborBytes)
		if !ok {
			return nil, false
		}
		pairs = append(pairs, kv{k, v})
		keyBytes += len(k)
		valBytes += len(v)
	}
	var names strings.Builder
	names.Grow(keyBytes)
	for _, e := range pairs {
		names.Write(e.k)
	}
	all := names.String()
	vals := make([]byte, 0, valBytes)
	attrs := make(map[string][]byte, len(pairs))
	for _, e := range pairs {
		k := all[:len(e.k)]
		all = all[len(e.k):]
		start := len(vals)
		vals = append(vals, e.v...)
		attrs[k] = vals[start:len(vals):len(vals)]
	}
	return attrs, true
}
