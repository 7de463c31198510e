package core

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/codec"
)

func TestCBORTextHead(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		b, err := codec.CBOR.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if h := cborTextHead(b); h == 0 || string(b[h:]) != s {
			t.Errorf("string of %d bytes: head %d of %x...", n, h, b[:min(len(b), 9)])
		}
		if cborTextHead(b[:len(b)-1]) != 0 && n > 0 {
			t.Errorf("string of %d bytes, truncated: taken for a whole text", n)
		}
	}
	for _, v := range []any{[]byte("abc"), 7, map[string]any{"a": "b"}, []string{"a"}} {
		b, _ := codec.CBOR.Marshal(v)
		if cborTextHead(b) != 0 {
			t.Errorf("%T taken for a text string", v)
		}
	}
	if cborTextHead(nil) != 0 || cborTextHead([]byte{0x7f, 0xff}) != 0 {
		t.Error("empty or indefinite-length bytes taken for a text string")
	}
}

// compactManager is a local-only sticky Manager with routes that set and
// read attributes, and the data of the session its first request creates.
func compactSession(t *testing.T, cfg Config, set func(*Session)) (*Manager, func(func(*Session)) string, *sessionData) {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var cookie *http.Cookie
	var d *sessionData
	serve := func(h func(*Session)) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := FromContext(r.Context())
			h(s)
			s.mu.Lock()
			d = s.d
			s.mu.Unlock()
			io.WriteString(w, "ok")
		})).ServeHTTP(rec, req)
		if c := rec.Result().Cookies(); len(c) > 0 {
			cookie = c[0]
		}
		return rec.Body.String()
	}
	serve(set)
	return m, serve, d
}

func isPacked(d *sessionData) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.packed != nil && d.attrs == nil
}

// A session of strings is kept packed between requests by default; reads
// of its strings leave it packed, a write unpacks it and the end of the
// request packs it again, and nothing is lost on the way.
func TestStringSessionsStayPackedBetweenRequests(t *testing.T) {
	long := strings.Repeat("v", 300)
	_, serve, d := compactSession(t, Config{}, func(s *Session) {
		s.Set("a", "x")
		s.Set("long", long)
		s.Set("empty", "")
	})
	if !isPacked(d) {
		t.Fatal("a session of strings was not packed after its request")
	}
	serve(func(s *Session) {
		if s.GetString("a") != "x" || s.GetString("long") != long || s.GetString("empty") != "" {
			t.Errorf("packed strings read back as %q, %d bytes, %q", s.GetString("a"), len(s.GetString("long")), s.GetString("empty"))
		}
		if v, ok := s.Get("a"); !ok || v != "x" {
			t.Errorf("Get of a packed string = %v, %v", v, ok)
		}
		if _, ok := s.Get("missing"); ok {
			t.Error("a missing attribute found in a packed session")
		}
		if _, err := GetAs[string](s, "missing"); err == nil {
			t.Error("GetAs of a missing attribute in a packed session: no error")
		}
		if !isPacked(d) {
			t.Error("reading strings unpacked the session")
		}
	})
	serve(func(s *Session) {
		s.Set("a", "y")
		s.Delete("empty")
		if isPacked(d) {
			t.Error("a written session is still packed during its request")
		}
		// Unpacked, an unchanged string is still read from its encoding.
		if v, _ := s.Get("long"); v != long || s.GetString("long") != long {
			t.Errorf("an unchanged string after unpacking: %d bytes", len(s.GetString("long")))
		}
		if v, err := GetAs[any](s, "long"); err != nil || v != long {
			t.Errorf("GetAs[any] of an unchanged string after unpacking: %v", err)
		}
	})
	if !isPacked(d) {
		t.Error("not packed again after the write")
	}
	serve(func(s *Session) {
		if got := strings.Join(s.Keys(), ","); got != "a,long" {
			t.Errorf("keys after the write: %s", got)
		}
		if s.GetString("a") != "y" || s.GetString("long") != long {
			t.Errorf("values after the write: %q, %d bytes", s.GetString("a"), len(s.GetString("long")))
		}
	})
}

// Packing by default must lose nothing: a session holding a value that
// would come back as another type (an int as an int64, a struct as a map)
// stays as it is, and so do strings under a codec whose encoding of a
// string is not CBOR text.
func TestSessionsThatWouldChangeAreNotPacked(t *testing.T) {
	type point struct{ X, Y int }
	_, serve, d := compactSession(t, Config{}, func(s *Session) {
		s.Set("s", "x")
		s.Set("n", 7)
		s.Set("p", point{1, 2})
	})
	if isPacked(d) {
		t.Fatal("a session with an int and a struct was packed")
	}
	serve(func(s *Session) {
		if v, _ := s.Get("n"); v != 7 {
			t.Errorf("n = %#v, want int 7", v)
		}
		if v, _ := s.Get("p"); v != (point{1, 2}) {
			t.Errorf("p = %#v", v)
		}
	})
	_, serve, d = compactSession(t, Config{Codec: codec.JSON}, func(s *Session) { s.Set("s", "x") })
	serve(func(s *Session) {
		if s.GetString("s") != "x" {
			t.Errorf("json session: s = %q", s.GetString("s"))
		}
	})
	if isPacked(d) {
		t.Error("a JSON session was packed as CBOR text")
	}
}

// BenchmarkPackedGet reads every attribute of a packed session of ten
// 100-byte strings, as a handler that reads its session does: "hot" one
// session again and again, "cold" 20,000 sessions in turn, 22 MB of blocks,
// more than the processor's caches hold, as a server's many sessions are;
// "cold-one" reads one attribute of each, as a handler that needs only
// the user's id does.
func BenchmarkPackedGet(b *testing.B) {
	keys := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "v"}
	session := func() *sessionData {
		attrs := map[string]*attr{}
		for _, k := range keys {
			attrs[k] = &attr{value: strings.Repeat("x", 100), hasValue: true}
		}
		d := &sessionData{attrs: attrs}
		if !d.freeze(codec.CBOR) {
			b.Fatal("not packed")
		}
		return d
	}
	for _, n := range []struct {
		name     string
		sessions int
		keys     []string
	}{{"hot", 1, keys}, {"cold", 20_000, keys}, {"cold-one", 20_000, keys[9:]}} {
		b.Run(n.name, func(b *testing.B) {
			ds := make([]*sessionData, n.sessions)
			for i := range ds {
				ds[i] = session()
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d := ds[i%len(ds)]
				i++
				for _, k := range n.keys {
					if e, ok := d.packedGet(k); !ok || len(e.value()) != 100 {
						b.Fatal("attribute lost")
					}
				}
			}
		})
	}
}

// lastSync is wall-clock time: a clock stepped back must make the TTL
// refresh due, never put it off until the clock catches up.
func TestSinceSyncIsDueWhenTheClockGoesBack(t *testing.T) {
	now := time.Now()
	d := &sessionData{lastSync: now.UnixNano()}
	if got := d.sinceSync(now.Add(time.Minute)); got != time.Minute {
		t.Errorf("a minute later: %v", got)
	}
	if got := d.sinceSync(now.Add(-time.Hour)); got < 24*time.Hour {
		t.Errorf("clock stepped back an hour: %v, want due", got)
	}
	if got := (&sessionData{}).sinceSync(now); got < 24*time.Hour {
		t.Errorf("never synced: %v, want due", got)
	}
}

// A string packed without an encoding of its own (freeze writes it into
// the block) is encoded exactly as the CBOR codec encodes it.
func TestFrozenStringsAreTheCodecsEncoding(t *testing.T) {
	attrs := map[string]*attr{}
	want := map[string][]byte{}
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536} {
		k := strings.Repeat("k", 1+n%7) + string(rune('a'+n%26)) + strings.Repeat("x", n%3)
		v := strings.Repeat("v", n)
		attrs[k] = &attr{value: v, hasValue: true}
		want[k], _ = codec.CBOR.Marshal(v)
	}
	d, got := frozenEncodings(t, attrs)
	if len(got) != len(want) {
		t.Fatalf("%d attributes packed, want %d", len(got), len(want))
	}
	for k, w := range want {
		if string(got[k]) != string(w) {
			t.Errorf("%q: block holds %x..., the codec writes %x...", k, got[k][:min(len(got[k]), 9)], w[:min(len(w), 9)])
		}
		if e, ok := d.packedGet(k); !ok || e.kind != packedString || e.value() != string(w[cborTextHead(w):]) {
			t.Errorf("%q: not read back as its string", k)
		}
	}
}

// Every entry of a block is found by packedGet and by the iterator (unpack,
// packedAttrs), whatever the lengths: names and encodings of 128 bytes or
// more take multi-byte lengths, and 300 entries a header over 16 KiB.
func TestBlockLayoutRoundTrip(t *testing.T) {
	attrs := map[string]*attr{}
	want := map[string]string{}
	for i := range 300 {
		k := strings.Repeat("k", i%200) + strconv.Itoa(i)
		v := strings.Repeat("v", (i*37)%300)
		attrs[k] = &attr{value: v, hasValue: true}
		want[k] = v
	}
	d, encs := frozenEncodings(t, attrs)
	for k, v := range want {
		if e, ok := d.packedGet(k); !ok || e.key != k || e.kind != packedString || e.value() != v {
			t.Fatalf("%.12q...: packedGet gives %v", k, ok)
		}
	}
	if _, ok := d.packedGet("absent"); ok {
		t.Error("an absent name found")
	}
	if len(encs) != len(want) {
		t.Fatalf("packedAttrs gives %d attributes, want %d", len(encs), len(want))
	}
	for k, v := range want {
		if enc := encs[k]; cborTextHead(enc) == 0 || textIn(enc) != v {
			t.Fatalf("%.12q...: lost by packedAttrs", k)
		}
	}
	d.unpack()
	if len(d.attrs) != len(want) {
		t.Fatalf("unpacked %d attributes, want %d", len(d.attrs), len(want))
	}
	for k, v := range want {
		if a := d.attrs[k]; a == nil || !a.strInEnc || textIn(a.enc) != v {
			t.Fatalf("%.12q...: lost by unpack", k)
		}
	}
}

// frozenEncodings packs attrs, strings all, by freeze and returns the
// session with the encodings its block gives to a backup (packedAttrs).
func frozenEncodings(t *testing.T, attrs map[string]*attr) (*sessionData, map[string][]byte) {
	t.Helper()
	d := &sessionData{attrs: attrs}
	if !d.freeze(codec.CBOR) {
		t.Fatal("strings not packed")
	}
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	encs, _ := m.packedAttrs(d)
	return d, encs
}
