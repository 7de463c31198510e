package codec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

type testAddress struct {
	Street string
	Zip    int
}

type testUser struct {
	Name    string
	Age     int
	Tags    []string
	Home    testAddress
	Prefs   map[string]string
	Visits  []testAddress
	Created time.Time
}

func init() {
	gob.Register(testUser{})
	gob.Register(&testAddress{})
}

var codecs = []Codec{CBOR, Gob, JSON}

var (
	testTime = time.Date(2025, 11, 26, 14, 7, 3, 123456789, time.FixedZone("CET", 3600))
	testUTC  = time.Date(2024, 2, 29, 23, 59, 59, 999000000, time.UTC)
)

func sampleUser() testUser {
	return testUser{
		Name:    "Ada",
		Age:     36,
		Tags:    []string{"admin", "ops"},
		Home:    testAddress{Street: "1 Loop Rd", Zip: 12345},
		Prefs:   map[string]string{"theme": "dark", "lang": "en"},
		Visits:  []testAddress{{Street: "a", Zip: 1}, {Street: "b", Zip: 2}},
		Created: testUTC,
	}
}

// roundTrip marshals v with c and unmarshals it into a new T.
func roundTrip[T any](t *testing.T, c Codec, v T) T {
	t.Helper()
	data, err := c.Marshal(v)
	if err != nil {
		t.Fatalf("%s: Marshal(%#v): %v", c.Name(), v, err)
	}
	var got T
	if err := c.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s: Unmarshal into %T: %v", c.Name(), &got, err)
	}
	return got
}

func checkTyped[T any](t *testing.T, v T) {
	t.Helper()
	for _, c := range codecs {
		if got := roundTrip(t, c, v); !reflect.DeepEqual(got, v) {
			t.Errorf("%s: round trip of %T: got %#v, want %#v", c.Name(), v, got, v)
		}
	}
}

func TestRoundTripTyped(t *testing.T) {
	t.Parallel()
	checkTyped(t, "hello, 世界")
	checkTyped(t, "")
	checkTyped(t, 42)
	checkTyped(t, -1<<62)
	checkTyped(t, int64(-7))
	checkTyped(t, uint64(1<<63))
	checkTyped(t, true)
	checkTyped(t, false)
	checkTyped(t, 3.25)
	checkTyped(t, 0.1)
	checkTyped(t, []string{"a", "b", ""})
	checkTyped(t, map[string]string{"k": "v"})
	checkTyped(t, testUTC)
	checkTyped(t, sampleUser()) // GetAs[T] on another instance
	checkTyped(t, testUser{})

	for _, c := range codecs {
		got := roundTrip(t, c, testTime)
		if !got.Equal(testTime) {
			t.Errorf("%s: time round trip: got %v, want %v", c.Name(), got, testTime)
		}
		if _, off := got.Zone(); off != 3600 {
			t.Errorf("%s: time round trip lost the UTC offset: %v", c.Name(), got)
		}
	}
}

func TestRoundTripMapStringAny(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"s":      "x",
		"n":      7,
		"b":      true,
		"f":      1.5,
		"list":   []any{"a", 2},
		"nested": map[string]any{"deep": "yes"},
	}
	want := map[string]map[string]any{
		"cbor": {
			"s": "x", "n": int64(7), "b": true, "f": 1.5,
			"list": []any{"a", int64(2)}, "nested": map[string]any{"deep": "yes"},
		},
		"gob": in,
		"json": {
			"s": "x", "n": float64(7), "b": true, "f": 1.5,
			"list": []any{"a", float64(2)}, "nested": map[string]any{"deep": "yes"},
		},
	}
	for _, c := range codecs {
		if got := roundTrip(t, c, in); !reflect.DeepEqual(got, want[c.Name()]) {
			t.Errorf("%s: into *map[string]any: got %#v, want %#v", c.Name(), got, want[c.Name()])
		}
		if got := roundTrip[any](t, c, in); !reflect.DeepEqual(got, want[c.Name()]) {
			t.Errorf("%s: into *any: got %#v, want %#v", c.Name(), got, want[c.Name()])
		}
	}
}

// TestRoundTripAny checks what each codec gives when decoding into *any,
// as core's Get does when it does not know the type.
func TestRoundTripAny(t *testing.T) {
	t.Parallel()
	u := sampleUser()
	userMap := func(num func(int) any, created any) map[string]any {
		return map[string]any{
			"Name": "Ada", "Age": num(36),
			"Tags":  []any{"admin", "ops"},
			"Home":  map[string]any{"Street": "1 Loop Rd", "Zip": num(12345)},
			"Prefs": map[string]any{"theme": "dark", "lang": "en"},
			"Visits": []any{
				map[string]any{"Street": "a", "Zip": num(1)},
				map[string]any{"Street": "b", "Zip": num(2)},
			},
			"Created": created,
		}
	}
	i64 := func(n int) any { return int64(n) }
	f64 := func(n int) any { return float64(n) }
	tests := []struct {
		in                any
		cbor, gobV, jsonV any
	}{
		{"hello", "hello", "hello", "hello"},
		{42, int64(42), 42, float64(42)},
		{-3, int64(-3), -3, float64(-3)},
		{true, true, true, true},
		{2.5, 2.5, 2.5, 2.5},
		{[]string{"a", "b"}, []any{"a", "b"}, []string{"a", "b"}, []any{"a", "b"}},
		{testUTC, testUTC, testUTC, testUTC.Format(time.RFC3339Nano)},
		{u, userMap(i64, testUTC), u, userMap(f64, testUTC.Format(time.RFC3339Nano))},
		{nil, nil, nil, nil},
	}
	for i, tt := range tests {
		for _, c := range codecs {
			want := map[string]any{"cbor": tt.cbor, "gob": tt.gobV, "json": tt.jsonV}[c.Name()]
			got := roundTrip[any](t, c, tt.in)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%d %s: into *any: got %#v, want %#v", i, c.Name(), got, want)
			}
		}
	}
}

func TestCBORTimeIntoAnyKeepsInstant(t *testing.T) {
	t.Parallel()
	got := roundTrip[any](t, CBOR, testTime)
	tm, ok := got.(time.Time)
	if !ok || !tm.Equal(testTime) {
		t.Fatalf("got %#v, want time %v", got, testTime)
	}
}

func TestCBORNonStringKeysIntoAny(t *testing.T) {
	t.Parallel()
	got := roundTrip[any](t, CBOR, map[int]string{1: "a", 2: "b"})
	want := map[any]any{int64(1): "a", int64(2): "b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if got := roundTrip(t, CBOR, map[int]string{1: "a"}); !reflect.DeepEqual(got, map[int]string{1: "a"}) {
		t.Fatalf("typed: got %#v", got)
	}
}

func TestCBORKeepsInvalidUTF8(t *testing.T) {
	t.Parallel()
	s := "a\xffb"
	if got := roundTrip(t, CBOR, s); got != s {
		t.Fatalf("got %q, want %q", got, s)
	}
}

func TestCBORDeterministic(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i*7919%1000)
	}
	var first []byte
	for i := range 100 {
		r.Shuffle(len(keys), func(a, b int) { keys[a], keys[b] = keys[b], keys[a] })
		m := make(map[string]any)
		inner := make(map[string]int)
		for _, k := range keys {
			m[k] = len(k) * 3
			inner[k] = len(k)
		}
		m["inner"] = inner
		m["user"] = sampleUser()
		data, err := CBOR.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = data
		} else if !bytes.Equal(data, first) {
			t.Fatalf("encoding %d differs from the first", i)
		}
	}
}

func TestCBORRejectsHostileSizes(t *testing.T) {
	t.Parallel()
	tests := map[string][]byte{
		"array claims 2^32 elements": {0x9a, 0xff, 0xff, 0xff, 0xff, 0x00},
		"map claims 2^64-1 pairs":    {0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"bytes claim 2^63":           {0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0},
		"deep nesting":               bytes.Repeat([]byte{0x81}, 100),
		"empty":                      {},
		"trailing":                   {0x01, 0x02},
	}
	big := []byte{0x9a, 0x00, 0x02, 0x00, 0x01} // 131073 elements, over the limit
	big = append(big, make([]byte, 131073)...)
	tests["too many elements"] = big
	for name, data := range tests {
		var v any
		if err := CBOR.Unmarshal(data, &v); err == nil {
			t.Errorf("%s: no error, got %T", name, v)
		}
	}
}

func TestGobAssign(t *testing.T) {
	t.Parallel()
	// A registered pointer type decodes into the pointed-to type and back.
	a := &testAddress{Street: "x", Zip: 9}
	if got := roundTrip(t, Gob, a); !reflect.DeepEqual(got, a) {
		t.Errorf("*T into *T: got %#v", got)
	}
	data, err := Gob.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var v testAddress
	if err := Gob.Unmarshal(data, &v); err != nil || v != *a {
		t.Errorf("*T into T: got %#v, %v", v, err)
	}
	data, err = Gob.Marshal(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	var pu *testUser
	if err := Gob.Unmarshal(data, &pu); err != nil || pu == nil || pu.Name != "Ada" {
		t.Errorf("T into *T: got %#v, %v", pu, err)
	}

	// The wrong type is an error, not a panic or a silent zero.
	var n int
	if err := Gob.Unmarshal(data, &n); err == nil {
		t.Error("decoding a testUser into an int: no error")
	}
	if err := Gob.Unmarshal(data, n); err == nil {
		t.Error("decoding into a non-pointer: no error")
	}
	if err := Gob.Unmarshal(append(data, 0), &pu); err == nil {
		t.Error("trailing data: no error")
	}

	type unregistered struct{ A int }
	if _, err := Gob.Marshal(unregistered{1}); err == nil {
		t.Error("Marshal of an unregistered type: no error")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	t.Parallel()
	for _, c := range codecs {
		data, err := c.Marshal("text")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.Unmarshal(data, &n); err == nil {
			t.Errorf("%s: string into *int: no error", c.Name())
		}
		var v any
		if err := c.Unmarshal([]byte{0xff, 0x00, 0x13}, &v); err == nil {
			t.Errorf("%s: garbage: no error", c.Name())
		}
		if err := c.Unmarshal(nil, &v); err == nil {
			t.Errorf("%s: no data: no error", c.Name())
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cbor", "gob", "json"} {
		c, ok := ByName(name)
		if !ok || c.Name() != name {
			t.Errorf("ByName(%q) = %v, %v", name, c, ok)
		}
	}
	if c, ok := ByName("nope"); ok || c != nil {
		t.Errorf("ByName(nope) = %v, %v", c, ok)
	}

	name := "test-" + strconv.FormatInt(registerSeq.Add(1), 10) // unique under -count=N
	Register(namedCodec{name})
	if c, ok := ByName(name); !ok || c.Name() != name {
		t.Errorf("registered codec not found: %v, %v", c, ok)
	}
	for name, c := range map[string]Codec{
		"nil":       nil,
		"empty":     namedCodec{""},
		"too long":  namedCodec{string(make([]byte, 65))},
		"duplicate": namedCodec{"cbor"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%s) did not panic", name)
				}
			}()
			Register(c)
		}()
	}
}

func TestRegistryConcurrent(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			Register(namedCodec{"conc-" + strconv.FormatInt(registerSeq.Add(1), 10)})
			for range 100 {
				ByName("cbor")
			}
		}()
	}
	for range 8 {
		<-done
	}
}

var registerSeq atomic.Int64

type namedCodec struct{ name string }

func (c namedCodec) Name() string                     { return c.name }
func (namedCodec) Marshal(any) ([]byte, error)        { return nil, nil }
func (namedCodec) Unmarshal(data []byte, v any) error { return nil }

// nestedArray returns CBOR arrays of arrays holding n copies of elem in
// all (at most 131072 per array, the decoder's limit).
func nestedArray(elem []byte, n int) []byte {
	const per = 1 << 17
	outer := (n + per - 1) / per
	b := cborHead(4, uint64(outer))
	for i := range outer {
		k := min(per, n-i*per)
		b = append(b, cborHead(4, uint64(k))...)
		b = append(b, bytes.Repeat(elem, k)...)
	}
	return b
}

// allocated returns what fn allocates, from runtime.MemStats.
func allocated(fn func()) uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	fn()
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc - before
}

// TestCBORAllocationBounded: hostile CBOR of about 900 KB (what fits in a
// session blob) allocates at most its budget, ten times its size plus
// 1 MiB, however it is shaped: the shapes that cost 40 to 170 times their
// size to decode are refused before decoding. The same shapes in small
// numbers, and ordinary session values of the same size, still decode.
func TestCBORAllocationBounded(t *testing.T) {
	const size = 900 << 10
	for name, elem := range map[string][]byte{
		"empty maps":         {0xa0},
		"empty arrays":       {0x80},
		"empty byte strings": {0x40},
		"empty texts":        {0x60},
		"small ints":         {0x01},
		"negative ints":      {0x20},
		"one-pair int maps":  {0xa1, 0x00, 0x00},
		"one-pair text maps": {0xa1, 0x60, 0x00},
		"epoch times":        {0xc1, 0x00},
		"bignums":            {0xc2, 0x40},
		"unknown tags":       {0xd8, 0x64, 0x00},
		"arrays of one map":  {0x81, 0xa0},
		"floats":             {0xf9, 0x3c, 0x00},
		"small records":      {0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02},
		"maps of nine pairs": {0xa9, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0},
		"text maps of nine":  {0xa9, 0x60, 0, 0x61, '1', 0, 0x61, '2', 0, 0x61, '3', 0, 0x61, '4', 0, 0x61, '5', 0, 0x61, '6', 0, 0x61, '7', 0, 0x61, '8', 0},
	} {
		data := nestedArray(elem, size/len(elem))
		var v any
		var err error
		got := allocated(func() { err = CBOR.Unmarshal(data, &v) })
		t.Logf("%-20s %d bytes: %9d allocated (x%.1f), refused: %v", name, len(data), got, float64(got)/float64(len(data)), errors.Is(err, ErrTooCostly))
		if got > allocBudget(len(data)) {
			t.Errorf("%s: %d bytes allocated %d, over the budget of %d", name, len(data), got, allocBudget(len(data)))
		}
		if err != nil && !errors.Is(err, ErrTooCostly) {
			t.Errorf("%s: %v", name, err)
		}
		v = nil
		small := nestedArray(elem, 100)
		if err := CBOR.Unmarshal(small, &v); err != nil {
			t.Errorf("%s: 100 of them do not decode: %v", name, err)
		}
	}

	// Ordinary values of the same size decode.
	type item struct {
		SKU   string
		Qty   int
		Price float64
	}
	cart := make([]item, 20000)
	for i := range cart {
		cart[i] = item{SKU: "sku-" + strconv.Itoa(i), Qty: i % 7, Price: float64(i) / 3}
	}
	text := make([]string, 30000)
	for i := range text {
		text[i] = "line " + strconv.Itoa(i) + " of a long text"
	}
	for name, val := range map[string]any{
		"cart of 6000 items":    cart[:6000],
		"30000 strings":         text,
		"one 900 KB byte slice": bytes.Repeat([]byte{7}, size),
	} {
		data := mustMarshal(t, CBOR, val)
		var v any
		var err error
		got := allocated(func() { err = CBOR.Unmarshal(data, &v) })
		t.Logf("%-20s %d bytes: %9d allocated (x%.1f)", name, len(data), got, float64(got)/float64(len(data)))
		if err != nil {
			t.Errorf("%s (%d bytes) does not decode into any: %v", name, len(data), err)
		}
	}
	// Into its own type, a list of records costs what the type needs.
	cart = append(cart, cart...)
	data := mustMarshal(t, CBOR, cart)
	var back []item
	got := allocated(func() {
		if err := CBOR.Unmarshal(data, &back); err != nil || len(back) != len(cart) {
			t.Errorf("cart of %d items does not decode into its type: %v", len(cart), err)
		}
	})
	t.Logf("%-20s %d bytes: %9d allocated (x%.1f) into []item", "cart of 40000 items", len(data), got, float64(got)/float64(len(data)))
}
