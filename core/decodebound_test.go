package core_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// cborHead returns a CBOR item head of major type mt with argument n.
func cborHead(mt byte, n int) []byte {
	mt <<= 5
	switch {
	case n < 24:
		return []byte{mt | byte(n)}
	case n < 1<<8:
		return []byte{mt | 24, byte(n)}
	case n < 1<<16:
		return []byte{mt | 25, byte(n >> 8), byte(n)}
	default:
		return []byte{mt | 26, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
}

// tinyAttrsEnvelope is a valid envelope of n attributes with the shortest
// names and 1-byte values, as whoever can write to memcached could write
// it (EncodeEnvelope refuses to).
func tinyAttrsEnvelope(n int) []byte {
	b := []byte("MSM\x01")
	b = append(b, 0xa3, 0x01, 0x64, 'c', 'b', 'o', 'r', 0x03, 0x1b)
	b = append(b, 0x18, 0x5c, 0x4e, 0x9f, 0x4c, 0x4e, 0x00, 0x00) // CreatedAt: 2025
	b = append(b, 0x06)
	b = append(b, cborHead(5, n)...)
	for i := range n {
		k := strconv.Itoa(i)
		b = append(b, cborHead(3, len(k))...)
		b = append(b, k...)
		b = append(b, 0x41, 0xf6)
	}
	return b
}

// oneAttrEnvelope is an envelope whose attribute "a" holds value.
func oneAttrEnvelope(t *testing.T, value []byte) []byte {
	t.Helper()
	b, err := codec.EncodeEnvelope(&codec.Envelope{Codec: "cbor", Version: 1, CreatedAt: time.Now(),
		MaxInactive: time.Hour, Attributes: map[string][]byte{"a": value}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// arrayOf returns CBOR arrays of arrays holding n copies of elem in all.
func arrayOf(elem []byte, n int) []byte {
	const per = 1 << 17
	outer := (n + per - 1) / per
	b := cborHead(4, outer)
	for i := range outer {
		k := min(per, n-i*per)
		b = append(b, cborHead(4, k)...)
		b = append(b, bytes.Repeat(elem, k)...)
	}
	return b
}

// TestHostileBlobsAllocateBoundedMemory: bytes written into memcached by
// whoever can reach it (no Sealer) cost a bounded multiple of their size
// to load and read, however they are shaped. Decoding is held to ten times
// the input plus 1 MiB (codec's budget, refused beyond); the request as a
// whole also reads the item, copies the attribute out of the envelope and
// re-encodes a mutable value to detect changes, so it is held to 20 x the
// blob + 2 MiB (before the budget: up to 170 x). Blobs over
// MaxSessionBytes are not even decoded. Not parallel: it counts the
// process's allocations.
func TestHostileBlobsAllocateBoundedMemory(t *testing.T) {
	mc := msmtest.Start(t)
	direct := memcache.New(mc.Addr())
	cfg := core.Config{Nodes: nodesOf(mc), OperationTimeout: 5 * time.Second}
	m, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		v, ok := s.Get("a")
		fmt.Fprintf(w, "%v %T", ok, v)
	})
	h := m.Middleware(handler)
	// request serves one request for the session stored as blob, in this
	// goroutine, and returns what it allocated and the body.
	seq := 0
	request := func(blob []byte) (uint64, string) {
		seq++
		base := fmt.Sprintf("%032x", seq)
		if err := direct.Set(&memcache.Item{Key: base + "-n1", Value: blob}); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: base + "-n1"})
		rec := httptest.NewRecorder()
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		h.ServeHTTP(rec, req)
		runtime.ReadMemStats(&ms)
		return ms.TotalAlloc - before, rec.Body.String()
	}
	const size = 900 << 10
	for _, tc := range []struct {
		name    string
		blob    []byte
		corrupt bool // refused on load
	}{
		{"65536 tiny attributes", tinyAttrsEnvelope(65536), true},
		{"4000 tiny attributes", tinyAttrsEnvelope(4000), false},
		{"empty maps", oneAttrEnvelope(t, arrayOf([]byte{0xa0}, size)), false},
		{"one-pair int maps", oneAttrEnvelope(t, arrayOf([]byte{0xa1, 0, 0}, size/3)), false},
		{"one-pair text maps", oneAttrEnvelope(t, arrayOf([]byte{0xa1, 0x60, 0}, size/3)), false},
		{"empty arrays", oneAttrEnvelope(t, arrayOf([]byte{0x80}, size)), false},
		{"empty byte strings", oneAttrEnvelope(t, arrayOf([]byte{0x40}, size)), false},
		{"bignums", oneAttrEnvelope(t, arrayOf([]byte{0xc2, 0x40}, size/2)), false},
		{"floats", oneAttrEnvelope(t, arrayOf([]byte{0xf9, 0x3c, 0x00}, size/3)), false},
	} {
		corruptBefore := m.Stats().SessionsCorrupt
		got, body := request(tc.blob)
		ratio := float64(got) / float64(len(tc.blob))
		t.Logf("%-22s %7d bytes: request allocated %9d (x%.1f), handler saw %q", tc.name, len(tc.blob), got, ratio, body)
		if limit := uint64(20*len(tc.blob) + 2<<20); got > limit {
			t.Errorf("%s: a request with a %d-byte blob allocated %d, over 20 x + 2 MiB = %d", tc.name, len(tc.blob), got, limit)
		}
		if corrupt := m.Stats().SessionsCorrupt > corruptBefore; corrupt != tc.corrupt {
			t.Errorf("%s: counted as corrupt: %v, want %v", tc.name, corrupt, tc.corrupt)
		}
	}

	// A blob over MaxSessionBytes was not written by gomsm: refused, not
	// decoded.
	small, err := core.New(core.Config{Nodes: nodesOf(mc), MaxSessionBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { small.Close() })
	h = small.Middleware(handler)
	big := oneAttrEnvelope(t, mustCBOR(t, strings.Repeat("x", 100<<10)))
	if _, body := request(big); body != "false <nil>" {
		t.Errorf("a %d-byte blob, over MaxSessionBytes, was loaded: handler saw %q", len(big), body)
	}
	if st := small.Stats(); st.SessionsCorrupt != 1 {
		t.Errorf("blob over MaxSessionBytes: SessionsCorrupt = %d, want 1", st.SessionsCorrupt)
	}
	fits := oneAttrEnvelope(t, mustCBOR(t, strings.Repeat("x", 60<<10)))
	if _, body := request(fits); body != "true string" {
		t.Errorf("a %d-byte blob, under MaxSessionBytes: handler saw %q", len(fits), body)
	}
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := codec.CBOR.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
