package codec

import (
	"bytes"
	"errors"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// FuzzDecodeEnvelope checks that DecodeEnvelope never panics, that every
// error wraps ErrCorrupt, and that what it accepts re-encodes to a canonical
// form that decodes to the same envelope.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, e := range []*Envelope{
		sampleEnvelope(),
		{Codec: "gob", Version: 1, CreatedAt: time.Unix(1700000000, 0)},
	} {
		data, err := EncodeEnvelope(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			if e != nil {
				t.Fatalf("non-nil envelope with error %v", err)
			}
			return
		}
		if e.Attributes == nil {
			t.Fatal("nil Attributes")
		}
		canon, err := EncodeEnvelope(e)
		if err != nil {
			t.Fatalf("re-encoding a decoded envelope: %v", err)
		}
		e2, err := DecodeEnvelope(canon)
		if err != nil {
			t.Fatalf("decoding the re-encoded envelope: %v", err)
		}
		if !sameEnvelope(e, e2) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", e, e2)
		}
		again, err := EncodeEnvelope(e2)
		if err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("encoding is not canonical (%v)", err)
		}
	})
}

func sameEnvelope(a, b *Envelope) bool {
	if a.Codec != b.Codec || a.Version != b.Version || a.MaxInactive != b.MaxInactive ||
		!a.CreatedAt.Equal(b.CreatedAt) || !a.LastAccessed.Equal(b.LastAccessed) ||
		a.CreatedAt.IsZero() != b.CreatedAt.IsZero() || a.LastAccessed.IsZero() != b.LastAccessed.IsZero() ||
		len(a.Attributes) != len(b.Attributes) {
		return false
	}
	for k, v := range a.Attributes {
		w, ok := b.Attributes[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// FuzzCBORUnmarshal checks that decoding arbitrary bytes into *any with
// the CBOR codec never panics, allocates at most its budget (ten times the
// input plus 1 MiB), never decodes what the cost scan could not walk, and
// that a decoded value that encodes again also decodes again.
func FuzzCBORUnmarshal(f *testing.F) {
	for _, v := range []any{
		"s", -1, uint64(1 << 63), 1.5, true, nil, []any{"a", 1},
		map[string]any{"k": map[string]any{"n": []string{"x"}}},
		map[int]string{1: "a"}, testTime, sampleUser(), []byte{1, 2},
	} {
		data, err := CBOR.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		var err error
		checkAllocBudget(t, len(data), func() { err = CBOR.Unmarshal(data, &v) })
		if _, ok := scanCBOR(data, 2*cborMaxNestedLevels+2); !ok && err == nil {
			t.Fatalf("%x decodes, but the cost scan could not walk it: its cost went unchecked", data)
		}
		if err != nil {
			return
		}
		out, err := CBOR.Marshal(v)
		if err != nil {
			return // e.g. a time past year 9999 has no RFC 3339 form
		}
		var w any
		if err := CBOR.Unmarshal(out, &w); err != nil {
			t.Fatalf("decoded %#v, encoded it to %x, which does not decode: %v", v, out, err)
		}
	})
}

// allocPerByte and allocSlack bound what decoding len(data) bytes may
// allocate: every CBOR byte can become at most a small boxed Go value.
const (
	allocPerByte = 256
	allocSlack   = 1 << 20
)

// checkAllocBound fails t if fn allocates more than allocPerByte*n +
// allocSlack for n input bytes.
func checkAllocBound(t *testing.T, n int, fn func()) {
	t.Helper()
	checkAlloc(t, n, uint64(allocPerByte*n+allocSlack), fn)
}

// checkAllocBudget fails t if fn allocates more than the CBOR decoding
// budget of n input bytes.
func checkAllocBudget(t *testing.T, n int, fn func()) {
	t.Helper()
	checkAlloc(t, n, allocBudget(n), fn)
}

// checkAlloc fails t if fn allocates more than limit bytes. It uses
// runtime/metrics, which is cheap but only approximate, and confirms an
// apparent excess with runtime.ReadMemStats.
func checkAlloc(t *testing.T, n int, limit uint64, fn func()) {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	fn()
	metrics.Read(s)
	if s[0].Value.Uint64()-before <= limit {
		return
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	exact := ms.TotalAlloc
	fn()
	runtime.ReadMemStats(&ms)
	if got := ms.TotalAlloc - exact; got > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes, over the bound of %d", n, got, limit)
	}
}
