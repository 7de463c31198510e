package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func sampleEnvelope() *Envelope {
	return &Envelope{
		Codec:        "cbor",
		Version:      42,
		CreatedAt:    time.Date(2025, 11, 26, 14, 0, 0, 123456789, time.UTC),
		LastAccessed: time.Date(2025, 11, 26, 14, 30, 0, 1, time.FixedZone("X", -7200)),
		MaxInactive:  30 * time.Minute,
		Attributes: map[string][]byte{
			"user":  {0xa1, 0x61, 0x61, 0x01},
			"cart":  []byte("some bytes"),
			"empty": {},
			"":      []byte("empty name"),
		},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]*Envelope{
		"full":    sampleEnvelope(),
		"minimal": {Codec: "json"},
		"epoch":   {Codec: "gob", CreatedAt: time.Unix(0, 0), LastAccessed: time.Unix(-1, 5), MaxInactive: -1},
		"max":     {Codec: "x", Version: 1<<64 - 1, CreatedAt: time.Unix(0, 1<<63-1), MaxInactive: 1<<63 - 1},
	} {
		data, err := EncodeEnvelope(e)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		if string(data[:4]) != "MSM\x01" {
			t.Errorf("%s: header %q", name, data[:4])
		}
		got, err := DecodeEnvelope(data)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if got.Codec != e.Codec || got.Version != e.Version || got.MaxInactive != e.MaxInactive {
			t.Errorf("%s: got %+v, want %+v", name, got, e)
		}
		for _, tm := range [][2]time.Time{{got.CreatedAt, e.CreatedAt}, {got.LastAccessed, e.LastAccessed}} {
			if !tm[0].Equal(tm[1]) || tm[0].IsZero() != tm[1].IsZero() {
				t.Errorf("%s: time %v, want %v", name, tm[0], tm[1])
			}
			if tm[0].Location() != time.UTC {
				t.Errorf("%s: time %v not in UTC", name, tm[0])
			}
		}
		want := e.Attributes
		if want == nil {
			want = map[string][]byte{}
		}
		if !reflect.DeepEqual(got.Attributes, want) {
			t.Errorf("%s: attributes %q, want %q", name, got.Attributes, want)
		}
		again, err := EncodeEnvelope(got)
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("%s: re-encoding the decoded envelope changed the bytes (%v)", name, err)
		}
	}
}

func TestEnvelopeDeterministic(t *testing.T) {
	t.Parallel()
	want, err := EncodeEnvelope(sampleEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		e := sampleEnvelope()
		attrs := make(map[string][]byte)
		for k, v := range e.Attributes {
			attrs[k] = append([]byte(nil), v...)
		}
		e.Attributes = attrs
		got, err := EncodeEnvelope(e)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("encodings differ (%v)", err)
		}
	}
	// nil and empty attributes, and nil and empty values, encode alike.
	a, _ := EncodeEnvelope(&Envelope{Codec: "c", Attributes: nil})
	b, _ := EncodeEnvelope(&Envelope{Codec: "c", Attributes: map[string][]byte{}})
	c, _ := EncodeEnvelope(&Envelope{Codec: "c", Attributes: map[string][]byte{"k": nil}})
	d, _ := EncodeEnvelope(&Envelope{Codec: "c", Attributes: map[string][]byte{"k": {}}})
	if !bytes.Equal(a, b) || !bytes.Equal(c, d) {
		t.Error("nil and empty encode differently")
	}
}

func TestEncodeEnvelopeErrors(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]*Envelope{
		"nil":                nil,
		"no codec":           {},
		"long codec":         {Codec: string(make([]byte, 65))},
		"created too late":   {Codec: "c", CreatedAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		"accessed too early": {Codec: "c", LastAccessed: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := EncodeEnvelope(e); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDecodeEnvelopeCorrupt(t *testing.T) {
	t.Parallel()
	valid, err := EncodeEnvelope(sampleEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	body := func(b ...byte) []byte { return append([]byte("MSM\x01"), b...) }
	tests := map[string][]byte{
		"nil":                  nil,
		"short":                []byte("MSM"),
		"header only":          body(),
		"wrong magic":          append([]byte("XSM\x01"), valid[4:]...),
		"version 0":            append([]byte("MSM\x00"), valid[4:]...),
		"version 2":            append([]byte("MSM\x02"), valid[4:]...),
		"trailing garbage":     append(append([]byte(nil), valid...), 0x00),
		"body is an array":     body(0x81, 0x01),
		"body is text":         body(0x61, 'a'),
		"empty map":            body(0xa0),
		"codec is int":         body(0xa1, 0x01, 0x01),
		"empty codec":          body(0xa1, 0x01, 0x60),
		"duplicate key":        body(0xa2, 0x01, 0x61, 'c', 0x01, 0x61, 'd'),
		"attrs not a map":      body(0xa2, 0x01, 0x61, 'c', 0x06, 0x01),
		"attr value is int":    body(0xa2, 0x01, 0x61, 'c', 0x06, 0xa1, 0x61, 'k', 0x01),
		"indefinite map":       body(0xbf, 0x01, 0x61, 'c', 0xff),
		"tagged":               body(0xc1, 0xa1, 0x01, 0x61, 'c'),
		"huge attribute count": body(0xa2, 0x01, 0x61, 'c', 0x06, 0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"huge byte string":     body(0xa2, 0x01, 0x61, 'c', 0x06, 0xa1, 0x61, 'k', 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"gzip":                 {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00},
		"java serialization":   {0xac, 0xed, 0x00, 0x05, 0x73, 0x72},
	}
	for i := 0; i < len(valid); i++ {
		tests["truncated to "+strconv.Itoa(i)] = valid[:i]
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		b := make([]byte, r.IntN(64))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i%2 == 0 && len(b) >= 4 {
			copy(b, "MSM\x01") // get past the header
		}
		tests["random "+strconv.Itoa(i)] = b
	}
	for name, data := range tests {
		e, err := DecodeEnvelope(data)
		if !errors.Is(err, ErrCorrupt) {
			if err == nil && name[:6] == "random" {
				continue // random bytes may, rarely, be a valid envelope
			}
			t.Errorf("%s: got %+v, %v; want an error wrapping ErrCorrupt", name, e, err)
		}
	}
}

func TestDecodeEnvelopeIgnoresUnknownKeys(t *testing.T) {
	t.Parallel()
	data := []byte("MSM\x01")
	data = append(data, 0xa2, 0x01, 0x61, 'c', 0x18, 0x63, 0x61, 'x') // {1: "c", 99: "x"}
	e, err := DecodeEnvelope(data)
	if err != nil || e.Codec != "c" {
		t.Fatalf("got %+v, %v", e, err)
	}
}
