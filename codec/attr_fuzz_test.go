package codec

import (
	"bytes"
	"math"
	"runtime"
	"testing"
	"time"
)

// fuzzAttr is a struct attribute, the kind core's GetAs[T] decodes into:
// every kind of field a session value commonly has.
type fuzzAttr struct {
	Name    string
	Count   int
	Small   int8
	Ratio   float64
	OK      bool
	Raw     []byte
	Tags    []string
	Prefs   map[string]string
	Nested  *fuzzAttr
	Items   []testAddress
	When    time.Time
	Timeout time.Duration
	Any     any
	Fixed   [4]uint16
}

func fuzzAttrSeeds() []any {
	return []any{
		"s", "", -1, int64(math.MinInt64), uint64(math.MaxUint64), 1.5, math.Inf(-1), true, nil,
		[]byte{0, 1, 2}, []string{"a", "b"}, []any{"a", 1, nil},
		map[string]any{"k": map[string]any{"n": []any{"x"}}},
		map[string]string{"theme": "dark"}, map[string]int{"n": 1},
		testTime, time.Duration(5 * time.Second), sampleUser(),
		fuzzAttr{Name: "n", Count: 3, Small: -2, Raw: []byte("r"), Tags: []string{"t"},
			Prefs: map[string]string{"a": "b"}, Nested: &fuzzAttr{Name: "inner"},
			Items: []testAddress{{Street: "s", Zip: 1}}, When: testUTC, Timeout: time.Second,
			Any: map[string]any{"x": "y"}, Fixed: [4]uint16{1, 2, 3, 4}},
	}
}

// fuzzDecodeAttribute is the body shared by the per-codec fuzzers: decoding
// data with c into a *any, a *fuzzAttr and a **fuzzAttr never panics, and
// with bounded set allocates in proportion to len(data) (checkAllocBound).
// A successful decode into *any must not be lossy in a way that breaks a
// second round: what decodes and encodes again decodes again.
func fuzzDecodeAttribute(f *testing.F, c Codec, bounded bool) {
	for _, v := range fuzzAttrSeeds() {
		data, err := c.Marshal(v)
		if err != nil {
			continue // e.g. JSON has no -Inf
		}
		f.Add(data)
	}
	check := checkAllocBound
	if c == CBOR {
		check = checkAllocBudget
	}
	if !bounded {
		check = func(_ *testing.T, _ int, fn func()) { fn() }
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		var err error
		check(t, len(data), func() { err = c.Unmarshal(data, &v) })
		if err == nil {
			if out, err := c.Marshal(v); err == nil {
				var w any
				if err := c.Unmarshal(out, &w); err != nil {
					t.Fatalf("%s: decoded %#v, encoded it to %x, which does not decode: %v", c.Name(), v, out, err)
				}
			}
		}
		var s fuzzAttr
		check(t, len(data), func() { _ = c.Unmarshal(data, &s) })
		var p *fuzzAttr
		check(t, len(data), func() { _ = c.Unmarshal(data, &p) })
	})
}

// FuzzDecodeAttributeCBOR fuzzes attribute decoding with the CBOR codec.
func FuzzDecodeAttributeCBOR(f *testing.F) { fuzzDecodeAttribute(f, CBOR, true) }

// FuzzDecodeAttributeGob fuzzes attribute decoding with the gob codec for
// panics only. encoding/gob trusts the lengths it reads: every message
// length and every slice length allocates up to 10 MB before the bytes
// behind it are read, so a few hostile bytes cost megabytes and nested
// slices multiply it (TestGobAllocationIsNotBounded). That is why Gob's doc
// says to use it only for data gomsm wrote, and why docs/security.md pairs
// it with a Sealer.
func FuzzDecodeAttributeGob(f *testing.F) {
	registerGob(fuzzAttr{})
	fuzzDecodeAttribute(f, Gob, false)
}

// FuzzDecodeAttributeJSON fuzzes attribute decoding with the JSON codec.
func FuzzDecodeAttributeJSON(f *testing.F) { fuzzDecodeAttribute(f, JSON, true) }

// hostileGob returns a gob stream of depth nested []any values, each of
// which declares count elements, the way Gob.Marshal of
// []any{[]any{...int64(1)}} lays it out.
func hostileGob(depth int, count uint64) []byte {
	head := []byte("\x1b\x7f\x03\x01\x01\x08gobValue\x01\xff\x80\x00\x01\x01\x01\x01V\x01\x10\x00\x00\x00" +
		"\x1e\xff\x80\x01\x0e[]interface {}\xff\x81\x02\x01\x02\xff\x82\x00\x01\x10\x00\x00")
	name := []byte("\x0e[]interface {}")
	elem := []byte("\x05int64\x04\x02\x00\x02") // int64(1)
	for k := 1; k <= depth; k++ {
		body := append(append([]byte{0}, gobUint(count)...), elem...)
		level := append(append([]byte{0xff, 0x82}, gobUint(uint64(len(body)))...), body...)
		if k < depth {
			level = append(append([]byte{}, name...), level...)
		}
		elem = level
	}
	msg := append(elem, 0) // end of the gobValue struct
	return append(append(head, gobUint(uint64(len(msg)))...), msg...)
}

// gobUint is gob's unsigned integer encoding.
func gobUint(n uint64) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	var b []byte
	for ; n > 0; n >>= 8 {
		b = append([]byte{byte(n)}, b...)
	}
	return append([]byte{byte(-len(b))}, b...)
}

// TestGobAllocationIsNotBounded documents the fuzzers' gob finding: with
// hostile bytes, allocation is not proportional to the input. If it fails,
// encoding/gob (or Gob) got hardened: bound FuzzDecodeAttributeGob too.
func TestGobAllocationIsNotBounded(t *testing.T) {
	if data := hostileGob(3, 1); !bytes.Equal(data, mustMarshal(t, Gob, []any{[]any{[]any{int64(1)}}})) {
		t.Fatalf("hostileGob does not lay out []any like Gob.Marshal:\n%x", data)
	}
	data := hostileGob(8, 1<<27)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	var v any
	err := Gob.Unmarshal(data, &v)
	runtime.ReadMemStats(&ms)
	got := ms.TotalAlloc - before
	if err == nil {
		t.Fatal("hostile gob decoded without error")
	}
	t.Logf("%d hostile bytes allocated %d MB before failing: %v", len(data), got>>20, err)
	if got < 64<<20 {
		t.Errorf("hostile gob allocated only %d bytes: gob got hardened, bound its fuzzer", got)
	}
}

func mustMarshal(t *testing.T, c Codec, v any) []byte {
	t.Helper()
	b, err := c.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
