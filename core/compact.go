package core

import (
	"encoding/binary"
	"unsafe"

	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core/internal/envelope"
)

// The compact form of a session's attributes: one immutable block
// (sessionData.packed) instead of a map of attribute records, each with
// its value and its encoding. A sticky session is kept in it between
// requests whenever that loses nothing (freeze): every attribute is a
// string, whose CBOR encoding holds its bytes and is read in place
// (GetString allocates nothing), or a value loaded from memcached and not
// yet decoded. The first request that changes the session, or reads a
// value of another kind, unpacks it (attributes), and the end of that
// request freezes it again. Config.CompactAfter packs idle sessions that
// hold other values too, at the price of decoding them (pack).
//
// A block is a sequence of entries, each
//
//	uvarint len(key), key, kind, uvarint len(enc), enc
//
// where enc is the attribute's encoding by the configured codec.

// packLoaded packs the attributes of a session loaded from memcached and
// returns the block with the attributes' hash (sessionData.lastHash): a
// loaded session is packed from the start, and its strings are read in
// place. With another codec than CBOR every entry is packedEncoded: only
// CBOR's encoding of a string is the string's bytes.
func (m *Manager) packLoaded(attrs map[string][]byte) ([]byte, uint64) {
	var sum attrsHash
	size := 0
	for k, enc := range attrs {
		size += packedSize(k, enc)
		if !m.staysLocal(k) {
			sum.addEnc(k, enc)
		}
	}
	cbor := m.cfg.Codec.Name() == codec.CBOR.Name()
	b := make([]byte, 0, size)
	for k, enc := range attrs {
		kind := packedEncoded
		if cbor && cborTextHead(enc) > 0 {
			kind = packedString
		}
		b = appendPacked(b, k, kind, enc)
	}
	return b, sum.value()
}

// The kinds of an entry.
const (
	// packedEncoded: only the encoding is known; a read decodes it, as a
	// value loaded from memcached.
	packedEncoded byte = iota
	// packedString: the value is a string and enc is its CBOR text
	// encoding: the value is enc after its head.
	packedString
)

// packedEntry is one attribute of a block.
type packedEntry struct {
	key  string // a view into the block
	kind byte
	enc  []byte // a view into the block
}

// next parses the entry at the start of b and returns it with the rest
// of b; ok is false at the end of b. Blocks are made by this file only,
// so they always parse.
func nextPacked(b []byte) (e packedEntry, rest []byte, ok bool) {
	if len(b) == 0 {
		return e, nil, false
	}
	n, w := binary.Uvarint(b)
	b = b[w:]
	e.key = unsafe.String(unsafe.SliceData(b), int(n))
	b = b[n:]
	e.kind = b[0]
	b = b[1:]
	n, w = binary.Uvarint(b)
	b = b[w:]
	e.enc = b[:n:n]
	return e, b[n:], true
}

// value is a packedString entry's string, a view into the block.
func (e packedEntry) value() string { return textIn(e.enc) }

// textIn returns the string that enc, one CBOR text string, holds: a view
// into enc, which must never be written again.
func textIn(enc []byte) string {
	h := cborTextHead(enc)
	return unsafe.String(unsafe.SliceData(enc[h:]), len(enc)-h)
}

// cborTextHead returns the length of the CBOR head of b when b is exactly
// one CBOR text string (major type 3, definite length), 0 otherwise.
func cborTextHead(b []byte) int {
	if len(b) == 0 || b[0]>>5 != 3 {
		return 0
	}
	h, n := 1, uint64(b[0]&0x1f)
	switch n {
	case 24, 25, 26, 27:
		h += 1 << (n - 24)
		if len(b) < h {
			return 0
		}
		n = 0
		for _, c := range b[1:h] {
			n = n<<8 | uint64(c)
		}
	case 28, 29, 30, 31:
		return 0 // reserved or indefinite length
	}
	if uint64(len(b)-h) != n {
		return 0
	}
	return h
}

// packedGet returns attribute key of a packed session. Every read of a
// packed session's attribute scans its block: names are compared before
// anything else is parsed, and lengths under 128 take one byte.
func (d *sessionData) packedGet(key string) (packedEntry, bool) {
	b := d.packed
	for len(b) > 0 {
		n, w := uint64(b[0]), 1
		if n >= 0x80 {
			n, w = binary.Uvarint(b)
		}
		b = b[w:]
		if n == uint64(len(key)) && string(b[:n]) == key {
			e, _, _ := nextPacked(d.packed[len(d.packed)-len(b)-w:])
			return e, true
		}
		b = b[n+1:] // the key and the kind
		n, w = uint64(b[0]), 1
		if n >= 0x80 {
			n, w = binary.Uvarint(b)
		}
		b = b[uint64(w)+n:]
	}
	return packedEntry{}, false
}

// unpack turns the block back into the attribute table. The encodings
// stay views into the block, which is never written again. Called with
// d.mu held.
func (d *sessionData) unpack() {
	attrs := make(map[string]*attr)
	for b := d.packed; ; {
		e, rest, ok := nextPacked(b)
		if !ok {
			break
		}
		// Keys and encodings stay views into the block: the attributes
		// that do not change keep it alive until the next freeze.
		attrs[e.key] = &attr{enc: e.enc, encOK: true, strInEnc: e.kind == packedString}
		b = rest
	}
	d.attrs, d.packed = attrs, nil
}

// freeze packs the attributes when that loses nothing (see the top of
// this file): it reports whether the session is now packed. c encodes the
// strings not encoded yet. Called with d.mu held, when no request but the
// caller's, whose handler has returned, holds the session: a value a
// handler could still change in place is never left behind.
func (d *sessionData) freeze(c codec.Codec) bool {
	if d.packed != nil || len(d.attrs) == 0 || d.inUse > 1 {
		return d.packed != nil
	}
	cbor := c.Name() == codec.CBOR.Name()
	size := 0
	for k, a := range d.attrs {
		switch {
		case !a.hasValue && a.encOK: // loaded, never read
		case a.hasValue:
			s, ok := a.value.(string)
			if !ok {
				return false
			}
			if !a.encOK && cbor {
				// Encoded straight into the block (packAttrs): no encoding
				// of its own to become garbage.
				size += packedSize(k, nil) + cborTextSize(s)
				continue
			}
			if !a.encOK {
				b, err := envelope.Marshal(c, s)
				if err != nil {
					return false
				}
				a.setEnc(b)
			}
			if !isPackedString(a) {
				return false // another codec's encoding: the string is not in it
			}
		default:
			return false
		}
		size += packedSize(k, a.enc)
	}
	d.packed, d.attrs = packAttrs(d.attrs, size), nil
	return true
}

// cborTextSize is the size of s encoded as one CBOR text string.
func cborTextSize(s string) int {
	switch n := len(s); {
	case n < 24:
		return 1 + n
	case n <= 0xff:
		return 2 + n
	case n <= 0xffff:
		return 3 + n
	case uint64(n) <= 0xffffffff:
		return 5 + n
	default:
		return 9 + n
	}
}

// appendCBORText appends s as one CBOR text string with the shortest
// head, as the CBOR codec encodes a string.
func appendCBORText(b []byte, s string) []byte {
	n := uint64(len(s))
	switch h := cborTextSize(s) - len(s); h {
	case 1:
		b = append(b, 0x60|byte(n))
	case 2:
		b = append(b, 0x60|24, byte(n))
	case 3:
		b = append(b, 0x60|25, byte(n>>8), byte(n))
	case 5:
		b = append(b, 0x60|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		b = append(b, 0x60|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}

// packedSize is the size of a's entry under key k.
func packedSize(k string, enc []byte) int {
	return uvarintLen(len(k)) + len(k) + 1 + uvarintLen(len(enc)) + len(enc)
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// packAttrs writes attrs (whose encodings are current) into one block of
// size bytes (the sum of their packedSize).
func packAttrs(attrs map[string]*attr, size int) []byte {
	b := make([]byte, 0, size)
	for k, a := range attrs {
		if !a.encOK { // a string freeze encodes here, as CBOR text
			s := a.value.(string)
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(append(b, k...), packedString)
			b = binary.AppendUvarint(b, uint64(cborTextSize(s)))
			b = appendCBORText(b, s)
			continue
		}
		kind := packedEncoded
		if isPackedString(a) {
			kind = packedString
		}
		b = appendPacked(b, k, kind, a.enc)
	}
	return b
}

// appendPacked appends one entry to a block.
func appendPacked(b []byte, k string, kind byte, enc []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(enc)))
	return append(b, enc...)
}

// isPackedString reports whether a holds a string whose current encoding
// is its CBOR text (and so holds its bytes).
func isPackedString(a *attr) bool {
	if a.strInEnc {
		return a.encOK
	}
	s, ok := a.value.(string)
	if !ok || !a.hasValue || !a.encOK {
		return false
	}
	h := cborTextHead(a.enc)
	return h > 0 && string(a.enc[h:]) == s
}

// freeze packs the request's session at the end of the request, when
// that loses nothing (sessionData.freeze). Called with s.mu held.
func (m *Manager) freeze(s *Session) {
	d := s.d
	if d == nil || !s.use.has(flagUsed) {
		return
	}
	d.mu.Lock()
	if !d.removed {
		d.freeze(m.cfg.Codec)
	}
	d.mu.Unlock()
}

// packedAttrs is encodeAttrs for a packed session: the encodings are
// views into the block, which stays packed. Called with d.mu held.
func (m *Manager) packedAttrs(d *sessionData) (map[string][]byte, uint64) {
	out := map[string][]byte{}
	var sum attrsHash
	for b := d.packed; ; {
		e, rest, ok := nextPacked(b)
		if !ok {
			break
		}
		if !m.staysLocal(e.key) {
			out[e.key] = e.enc
			sum.addEnc(e.key, e.enc)
		}
		b = rest
	}
	return out, sum.value()
}
