package codec

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// appendEnvelope must write exactly what the reflective deterministic
// encoder writes (envEnc), or blobs written before and after it would
// differ for the same session.
func TestAppendEnvelopeIsTheReferenceEncoding(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	ints := []int64{0, 1, -1, 23, 24, -24, -25, 255, 256, -256, -257, 65535, 65536, -65537,
		math.MaxUint32, math.MaxUint32 + 1, -math.MaxUint32 - 2, math.MaxInt64, math.MinInt64}
	pick := func() int64 {
		if r.IntN(3) == 0 {
			return r.Int64() - r.Int64()
		}
		return ints[r.IntN(len(ints))]
	}
	ptr := func() *int64 {
		if r.IntN(4) == 0 {
			return nil
		}
		n := pick()
		return &n
	}
	for i := range 3000 {
		w := wireEnvelope{Codec: strings.Repeat("c", 1+r.IntN(40)), CreatedAt: ptr(), LastAccessed: ptr()}
		if r.IntN(3) > 0 {
			w.Version = uint64(pick())
		}
		if r.IntN(3) > 0 {
			w.MaxInactive = pick()
		}
		switch n := r.IntN(40); {
		case n == 0:
			w.Attributes = map[string][]byte{} // empty: omitted, as nil
		case n > 1:
			w.Attributes = map[string][]byte{}
			for range n {
				k := make([]byte, r.IntN(30))
				for j := range k {
					k[j] = "ab\x00\xff"[r.IntN(4)]
				}
				v := make([]byte, []int{0, 1, 23, 24, 255, 256, 70000}[r.IntN(7)])
				w.Attributes[string(k)] = v
			}
		}
		want, err := envEnc.Marshal(&w)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendEnvelope(nil, &w); !bytes.Equal(got, want) {
			t.Fatalf("envelope %d: %+v\nappendEnvelope %x\nreference      %x", i, w, got, want)
		}
	}
}

// parseCanonical is only a shortcut: whatever it accepts, the reflective
// decoder must decode to the same envelope. Checked on random envelopes,
// which it must all accept, and on every one-byte change of a sample,
// where it may refuse.
func TestParseCanonicalAgreesWithTheReference(t *testing.T) {
	t.Parallel()
	same := func(data []byte) bool {
		fast, ok := parseCanonical(data)
		if !ok {
			return false
		}
		var ref wireEnvelope
		if err := envDec.Unmarshal(data, &ref); err != nil {
			t.Fatalf("parseCanonical accepted what the reference refuses (%v): %x", err, data)
		}
		if ref.Attributes == nil {
			ref.Attributes = map[string][]byte{}
		}
		if fast.Attributes == nil {
			fast.Attributes = map[string][]byte{}
		}
		if !reflect.DeepEqual(*fast, ref) {
			t.Fatalf("parseCanonical and the reference differ on %x:\n%+v\n%+v", data, *fast, ref)
		}
		return true
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		w := wireEnvelope{Codec: "cbor", Version: r.Uint64() >> r.IntN(64), MaxInactive: r.Int64() - r.Int64()}
		if i%3 > 0 {
			n := r.Int64() - r.Int64()
			w.CreatedAt = &n
		}
		if i%5 > 0 {
			w.Attributes = map[string][]byte{}
			for range r.IntN(40) {
				w.Attributes[strings.Repeat("k", r.IntN(30))+string(rune('a'+r.IntN(26)))] = make([]byte, r.IntN(300))
			}
		}
		if !same(appendEnvelope(nil, &w)) {
			t.Fatalf("envelope %d as appendEnvelope writes it refused: %+v", i, w)
		}
	}
	sample, err := EncodeEnvelope(sampleEnvelope())
	if err != nil {
		t.Fatal(err)
	}
	body := sample[headerLen:]
	for i := range body {
		for _, c := range []byte{0x00, 0x01, 0x18, 0x1f, 0x20, 0x40, 0x5f, 0x60, 0x7f, 0xa0, 0xbf, 0xf6, 0xff, body[i] ^ 1, body[i] + 1} {
			b := append([]byte(nil), body...)
			b[i] = c
			same(b)
			same(b[:i])
		}
	}
}
