package codec

import (
	"bytes"
	"math"
	"math/rand/v2"
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
