package codec

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
)

// TestEncodeEnvelopeRefusesWhatDecodeRejects: an envelope that
// DecodeEnvelope rejects must not be written in the first place, or the
// backup is useless and the session is lost on failover (counted as
// corrupt): more than 65536 attributes, or so many tiny ones that their
// decoding would exceed the memory budget.
func TestEncodeEnvelopeRefusesWhatDecodeRejects(t *testing.T) {
	t.Parallel()
	value := bytes.Repeat([]byte{'v'}, 64) // big enough for the budget
	attrs := make(map[string][]byte, maxAttributes+1)
	for i := range maxAttributes + 1 {
		attrs[strconv.Itoa(i)] = value
	}
	if data, err := EncodeEnvelope(&Envelope{Codec: "cbor", Attributes: attrs}); err == nil {
		t.Errorf("EncodeEnvelope accepted %d attributes (%d bytes) that DecodeEnvelope rejects", len(attrs), len(data))
	}
	delete(attrs, "0")
	data, err := EncodeEnvelope(&Envelope{Codec: "cbor", Attributes: attrs})
	if err != nil {
		t.Fatalf("%d attributes: %v", len(attrs), err)
	}
	if e, err := DecodeEnvelope(data); err != nil || len(e.Attributes) != maxAttributes {
		t.Fatalf("%d attributes do not round trip: %v", maxAttributes, err)
	}

	// 65536 tiny attributes fit in 500 KB but would take 17 MB once
	// decoded with core's per-attribute records: refused both ways.
	tiny := make(map[string][]byte, maxAttributes)
	for i := range maxAttributes {
		tiny[strconv.Itoa(i)] = []byte{0xf6}
	}
	if _, err := EncodeEnvelope(&Envelope{Codec: "cbor", Attributes: tiny}); !errors.Is(err, ErrTooCostly) {
		t.Errorf("EncodeEnvelope of %d tiny attributes: %v, want ErrTooCostly", len(tiny), err)
	}
	hostile := hostileEnvelope(maxAttributes)
	if _, err := DecodeEnvelope(hostile); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrTooCostly) {
		t.Errorf("DecodeEnvelope of %d tiny attributes (%d bytes): %v, want ErrCorrupt and ErrTooCostly", maxAttributes, len(hostile), err)
	}
	// A session of ordinary size is far from the budget.
	few := map[string][]byte{}
	for i := range 2000 {
		few[strconv.Itoa(i)] = []byte{0xf6}
	}
	data, err = EncodeEnvelope(&Envelope{Codec: "cbor", Attributes: few})
	if err != nil {
		t.Fatalf("2000 tiny attributes: %v", err)
	}
	if _, err := DecodeEnvelope(data); err != nil {
		t.Fatalf("2000 tiny attributes do not decode: %v", err)
	}
}

// hostileEnvelope writes, as whoever can write to memcached could, a valid
// envelope of n attributes with the shortest names and 1-byte values.
func hostileEnvelope(n int) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.WriteByte(FormatVersion)
	b.Write([]byte{0xa2, 0x01, 0x64, 'c', 'b', 'o', 'r', 0x06})
	b.Write(cborHead(5, uint64(n)))
	for i := range n {
		k := strconv.Itoa(i)
		b.Write(cborHead(3, uint64(len(k))))
		b.WriteString(k)
		b.Write([]byte{0x41, 0xf6})
	}
	return b.Bytes()
}

// cborHead returns a CBOR item head of major type mt with argument n.
func cborHead(mt byte, n uint64) []byte {
	mt <<= 5
	switch {
	case n < 24:
		return []byte{mt | byte(n)}
	case n < 1<<8:
		return []byte{mt | 24, byte(n)}
	case n < 1<<16:
		return []byte{mt | 25, byte(n >> 8), byte(n)}
	case n < 1<<32:
		return []byte{mt | 26, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	default:
		return []byte{mt | 27, byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
}
