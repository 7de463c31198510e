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
// A block is a header, the entries' names and lengths, followed by their
// encodings in the same order:
//
//	uvarint len(header)
//	header: per entry, uvarint len(key), key, kind, uvarint len(enc)
//	body:   every entry's enc, one after the other
//
// where enc is the attribute's encoding by the configured codec. A read
// scans the header alone, a few bytes per attribute and most often one
// cache line, and jumps to its encoding; with the encodings between the
// names (the first layout), a read of the last of ten 100-byte strings
// touched ten cache lines, which under load were mostly cold.

// packLoaded packs the attributes of a session loaded from memcached and
// returns the block with the attributes' hash (sessionData.lastHash): a
// loaded session is packed from the start, and its strings are read in
// place. With another codec than CBOR every entry is packedEncoded: only
// CBOR's encoding of a string is the string's bytes.
func (m *Manager) packLoaded(attrs map[string][]byte) ([]byte, uint64) {
	var sum attrsHash
	var size blockSize
	for k, enc := range attrs {
		size.add(k, len(enc))
		if !m.staysLocal(k) {
			sum.addEnc(k, enc)
		}
	}
	cbor := m.cfg.Codec.Name() == codec.CBOR.Name()
	w := newBlock(size)
	for k, enc := range attrs {
		kind := packedEncoded
		if cbor && cborTextHead(enc) > 0 {
			kind = packedString
		}
		w.add(k, kind, enc)
	}
	return w.b, sum.value()
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

// packedIter walks the entries of a block in order.
type packedIter struct {
	header, body []byte // what is left of each
}

// iterPacked returns an iterator over block b. Blocks are made by this
// file only, so they always parse.
func iterPacked(b []byte) packedIter {
	if len(b) == 0 {
		return packedIter{}
	}
	n, w := binary.Uvarint(b)
	return packedIter{header: b[w : w+int(n)], body: b[w+int(n):]}
}

// count returns how many entries are left, from the header alone.
func (it packedIter) count() int {
	n := 0
	for h := it.header; len(h) > 0; n++ {
		l, w := binary.Uvarint(h)
		h = h[w+int(l)+1:] // the key and the kind
		_, w = binary.Uvarint(h)
		h = h[w:]
	}
	return n
}

// next returns the next entry; ok is false after the last.
func (it *packedIter) next() (e packedEntry, ok bool) {
	h := it.header
	if len(h) == 0 {
		return e, false
	}
	n, w := binary.Uvarint(h)
	h = h[w:]
	e.key = unsafe.String(unsafe.SliceData(h), int(n))
	h = h[n:]
	e.kind = h[0]
	n, w = binary.Uvarint(h[1:])
	it.header = h[1+w:]
	e.enc = it.body[:n:n]
	it.body = it.body[n:]
	return e, true
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
// packed session's attribute scans its block's header: names are compared
// before anything else is parsed, and lengths under 128 take one byte.
func (d *sessionData) packedGet(key string) (packedEntry, bool) {
	b := d.packed
	hl, w := binary.Uvarint(b)
	h, off := b[w:w+int(hl)], uint64(w)+hl // off: where the next encoding starts
	for len(h) > 0 {
		n, w := uint64(h[0]), 1
		if n >= 0x80 {
			n, w = binary.Uvarint(h)
		}
		h = h[w:]
		match := n == uint64(len(key)) && string(h[:n]) == key
		kind := h[n]
		h = h[n+1:]
		l, w := uint64(h[0]), 1
		if l >= 0x80 {
			l, w = binary.Uvarint(h)
		}
		h = h[w:]
		if match {
			return packedEntry{key: key, kind: kind, enc: b[off : off+l : off+l]}, true
		}
		off += l
	}
	return packedEntry{}, false
}

// unpack turns the block back into the attribute table. The encodings
// stay views into the block, which is never written again. Called with
// d.mu held.
func (d *sessionData) unpack() {
	it := iterPacked(d.packed)
	// The map and the records made at their final size, the records in
	// one allocation: a write to a packed session unpacks it, and the end
	// of its request packs it again.
	n := it.count()
	attrs, recs := make(map[string]*attr, n), make([]attr, n)
	for i := range recs {
		e, _ := it.next()
		// Keys and encodings stay views into the block: the attributes
		// that do not change keep it alive until the next freeze.
		recs[i] = attr{enc: e.enc, encOK: true, strInEnc: e.kind == packedString}
		attrs[e.key] = &recs[i]
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
	for _, a := range d.attrs {
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
	}
	d.packed, d.attrs = packAttrs(d.attrs), nil
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

// blockSize counts what a block of some entries needs.
type blockSize struct{ header, body int }

// add counts an entry under key k whose encoding is encLen bytes.
func (z *blockSize) add(k string, encLen int) {
	z.header += uvarintLen(len(k)) + len(k) + 1 + uvarintLen(encLen)
	z.body += encLen
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// blockWriter fills a block of a known size: the header from its front,
// the encodings after it, in the same order.
type blockWriter struct {
	b         []byte
	head, enc int // where the next header entry and the next encoding go
}

func newBlock(z blockSize) blockWriter {
	h := uvarintLen(z.header)
	b := make([]byte, h+z.header+z.body)
	binary.PutUvarint(b, uint64(z.header))
	return blockWriter{b: b, head: h, enc: h + z.header}
}

// entry writes the header entry of key k.
func (w *blockWriter) entry(k string, kind byte, encLen int) {
	w.head += binary.PutUvarint(w.b[w.head:], uint64(len(k)))
	w.head += copy(w.b[w.head:], k)
	w.b[w.head] = kind
	w.head++
	w.head += binary.PutUvarint(w.b[w.head:], uint64(encLen))
}

// add appends an entry whose encoding is enc.
func (w *blockWriter) add(k string, kind byte, enc []byte) {
	w.entry(k, kind, len(enc))
	w.enc += copy(w.b[w.enc:], enc)
}

// addText appends an entry holding s encoded as CBOR text, written
// straight into the block.
func (w *blockWriter) addText(k, s string) {
	w.entry(k, packedString, cborTextSize(s))
	w.enc = len(appendCBORText(w.b[:w.enc], s))
}

// packAttrs writes attrs into one block: each attribute's current
// encoding, or a string not encoded yet as its CBOR text.
func packAttrs(attrs map[string]*attr) []byte {
	var size blockSize
	for k, a := range attrs {
		if !a.encOK {
			size.add(k, cborTextSize(a.value.(string)))
		} else {
			size.add(k, len(a.enc))
		}
	}
	w := newBlock(size)
	for k, a := range attrs {
		if !a.encOK { // a string freeze encodes here, as CBOR text
			w.addText(k, a.value.(string))
			continue
		}
		kind := packedEncoded
		if isPackedString(a) {
			kind = packedString
		}
		w.add(k, kind, a.enc)
	}
	return w.b
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
	it := iterPacked(d.packed)
	out := make(map[string][]byte, it.count())
	var sum attrsHash
	for {
		e, ok := it.next()
		if !ok {
			break
		}
		if !m.staysLocal(e.key) {
			out[e.key] = e.enc
			sum.addEnc(e.key, e.enc)
		}
	}
	return out, sum.value()
}
