package codec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"strings"
	"sync"
	"testing"
)

// testAAD stands for what core binds a blob to: KeyPrefix + base id.
var testAAD = []byte("app1:0123456789abcdef0123456789abcdef")

// testKey returns a key of n bytes, all b.
func testKey(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func mustAESGCM(t testing.TB, keys ...[]byte) Sealer {
	t.Helper()
	s, err := NewAESGCM(keys...)
	if err != nil {
		t.Fatalf("NewAESGCM: %v", err)
	}
	return s
}

func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{16, 24, 32} {
		s := mustAESGCM(t, testKey(n, 7))
		for _, plain := range [][]byte{nil, {}, []byte("x"), []byte("MSM\x01 a session"), bytes.Repeat([]byte{0xff}, 1<<20)} {
			sealed, err := s.Seal(plain, testAAD)
			if err != nil {
				t.Fatalf("AES-%d: Seal: %v", n*8, err)
			}
			if len(sealed) != len(plain)+SealOverhead {
				t.Errorf("AES-%d: sealed %d bytes into %d, want %d", n*8, len(plain), len(sealed), len(plain)+SealOverhead)
			}
			if len(plain) > 8 && bytes.Contains(sealed, plain[:8]) {
				t.Errorf("AES-%d: sealed blob contains the plain text", n*8)
			}
			got, err := s.Open(sealed, testAAD)
			if err != nil {
				t.Fatalf("AES-%d: Open: %v", n*8, err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("AES-%d: Open gave %d bytes, want the %d sealed", n*8, len(got), len(plain))
			}
		}
	}
}

func TestSealNoncesDiffer(t *testing.T) {
	t.Parallel()
	s := mustAESGCM(t, testKey(32, 1))
	seen := map[string]bool{}
	for range 1000 {
		sealed, _ := s.Seal([]byte("same"), testAAD)
		nonce := string(sealed[2:sealHeaderLen])
		if seen[nonce] {
			t.Fatalf("nonce %x used twice", nonce)
		}
		seen[nonce] = true
	}
}

func TestSealDoesNotAliasInput(t *testing.T) {
	t.Parallel()
	s := mustAESGCM(t, testKey(16, 1))
	plain := make([]byte, 5, 100) // spare capacity must not be written into
	copy(plain, "hello")
	sealed, _ := s.Seal(plain, testAAD)
	if string(plain[:cap(plain)][5:10]) != "\x00\x00\x00\x00\x00" || string(plain) != "hello" {
		t.Errorf("Seal wrote into its input")
	}
	opened, _ := s.Open(sealed, testAAD)
	opened[0] = 'J'
	if again, err := s.Open(sealed, testAAD); err != nil || string(again) != "hello" {
		t.Errorf("changing Open's result changed the sealed blob: %q, %v", again, err)
	}
}

func TestSealKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey, otherKey := testKey(32, 1), testKey(32, 2), testKey(16, 3)
	before := mustAESGCM(t, oldKey)
	during := mustAESGCM(t, newKey, oldKey)
	after := mustAESGCM(t, newKey)
	stranger := mustAESGCM(t, otherKey)

	sealedOld, _ := before.Seal([]byte("old session"), testAAD)
	sealedNew, _ := during.Seal([]byte("new session"), testAAD)

	if got, err := during.Open(sealedOld, testAAD); err != nil || string(got) != "old session" {
		t.Errorf("rotated sealer opens a blob of the old key: %q, %v", got, err)
	}
	if got, err := after.Open(sealedNew, testAAD); err != nil || string(got) != "new session" {
		t.Errorf("the first key seals: new-key-only sealer opens it: %q, %v", got, err)
	}
	if _, err := before.Open(sealedNew, testAAD); !errors.Is(err, ErrCorrupt) {
		t.Errorf("old-key-only sealer opened a blob of the new key: %v", err)
	}
	if _, err := after.Open(sealedOld, testAAD); !errors.Is(err, ErrCorrupt) {
		t.Errorf("sealer without the old key opened its blob: %v", err)
	}
	for _, b := range [][]byte{sealedOld, sealedNew} {
		if _, err := stranger.Open(b, testAAD); !errors.Is(err, ErrCorrupt) {
			t.Errorf("foreign key opened a blob: %v", err)
		}
	}
}

// TestSealKeyIDCollision: two keys that share a key id byte are both tried.
func TestSealKeyIDCollision(t *testing.T) {
	t.Parallel()
	first := testKey(16, 0)
	var second []byte
	for b := 1; b < 1<<16; b++ {
		k := append(testKey(14, 0), byte(b>>8), byte(b))
		if keyID(k) == keyID(first) && !bytes.Equal(k, first) {
			second = k
			break
		}
	}
	if second == nil {
		t.Fatal("no colliding key id found")
	}
	sealed, _ := mustAESGCM(t, first).Seal([]byte("p"), testAAD)
	if got, err := mustAESGCM(t, second, first).Open(sealed, testAAD); err != nil || string(got) != "p" {
		t.Errorf("key id collision: Open = %q, %v", got, err)
	}
}

func TestSealOpenTampered(t *testing.T) {
	t.Parallel()
	s := mustAESGCM(t, testKey(32, 9))
	sealed, _ := s.Seal([]byte("MSM\x01 role=user"), testAAD)
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		if got, err := s.Open(b, testAAD); !errors.Is(err, ErrCorrupt) {
			t.Errorf("bit flipped in byte %d: Open = %q, %v; want ErrCorrupt", i, got, err)
		}
	}
	for n := range len(sealed) {
		if _, err := s.Open(sealed[:n], testAAD); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d bytes: %v; want ErrCorrupt", n, err)
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), testAAD); !errors.Is(err, ErrCorrupt) {
		t.Errorf("appended byte: %v; want ErrCorrupt", err)
	}
	plainEnvelope, _ := EncodeEnvelope(sampleEnvelope())
	for name, b := range map[string][]byte{
		"nil": nil, "plain envelope": plainEnvelope, "zeros": make([]byte, 64),
		"header only": sealed[:sealHeaderLen],
	} {
		if _, err := s.Open(b, testAAD); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open error %v, want ErrCorrupt", name, err)
		}
	}
}

// TestSealBindsAAD: a blob opens only with the aad it was sealed with:
// not with another session's base, another KeyPrefix, a prefix moved into
// the base, or none. A blob of the older layout, bound to nothing but its
// header, no longer opens.
func TestSealBindsAAD(t *testing.T) {
	t.Parallel()
	key := testKey(32, 8)
	s := mustAESGCM(t, key)
	sealed, _ := s.Seal([]byte("role=admin"), testAAD)
	if got, err := s.Open(sealed, bytes.Clone(testAAD)); err != nil || string(got) != "role=admin" {
		t.Fatalf("same aad: Open = %q, %v", got, err)
	}
	for name, aad := range map[string]string{
		"another session": "app1:ffffffffffffffffffffffffffffffff",
		"another app":     "app2:0123456789abcdef0123456789abcdef",
		"no prefix":       "0123456789abcdef0123456789abcdef",
		"none":            "",
		"one byte more":   string(testAAD) + "0",
	} {
		if got, err := s.Open(sealed, []byte(aad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open = %q, %v; want ErrCorrupt", name, got, err)
		}
	}
	empty, _ := s.Seal([]byte("p"), nil)
	if got, err := s.Open(empty, []byte{}); err != nil || string(got) != "p" {
		t.Errorf("nil and empty aad differ: %q, %v", got, err)
	}

	// The older layout: version 0xA1, the 2-byte header as the only
	// additional data. Its tag is valid, yet it must not open any more.
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	head := []byte{sealVersionUnbound, keyID(key), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	old := aead.Seal(bytes.Clone(head), head[2:], []byte("role=admin"), head[:2])
	for _, aad := range [][]byte{nil, testAAD} {
		if _, err := s.Open(old, aad); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "older layout") {
			t.Errorf("blob of the unbound layout: Open error %v, want ErrCorrupt naming the older layout", err)
		}
	}
}

func TestNewAESGCMErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		keys [][]byte
		want string
	}{
		"no key":     {nil, "at least one key"},
		"short key":  {[][]byte{testKey(15, 1)}, "key 0 has 15 bytes"},
		"long key":   {[][]byte{testKey(32, 1), testKey(33, 2)}, "key 1 has 33 bytes"},
		"empty key":  {[][]byte{testKey(16, 1), {}}, "key 1 has 0 bytes"},
		"repeat key": {[][]byte{testKey(16, 1), testKey(24, 2), testKey(16, 1)}, "key 2 repeats key 0"},
	} {
		s, err := NewAESGCM(tc.keys...)
		if err == nil || s != nil {
			t.Errorf("%s: NewAESGCM = %v, %v; want an error", name, s, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", name, err, tc.want)
		}
	}
}

func TestNewAESGCMCopiesKeys(t *testing.T) {
	t.Parallel()
	k := testKey(16, 4)
	s := mustAESGCM(t, k)
	sealed, _ := s.Seal([]byte("p"), testAAD)
	clear(k)
	if _, err := s.Open(sealed, testAAD); err != nil {
		t.Errorf("changing the caller's key slice broke the sealer: %v", err)
	}
}

func TestSealConcurrent(t *testing.T) {
	t.Parallel()
	s := mustAESGCM(t, testKey(32, 5), testKey(16, 6))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				p := []byte{byte(g), byte(i)}
				b, err := s.Seal(p, testAAD)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Open(b, testAAD); err != nil || !bytes.Equal(got, p) {
					t.Errorf("concurrent round trip: %x, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzSealOpen checks that Open never panics on arbitrary bytes, that
// what it accepts is exactly what Seal produced, and that every error wraps
// ErrCorrupt.
func FuzzSealOpen(f *testing.F) {
	s := mustAESGCM(f, testKey(32, 1), testKey(16, 2))
	for _, p := range []string{"", "MSM\x01", "a session"} {
		b, _ := s.Seal([]byte(p), testAAD)
		f.Add(b)
	}
	f.Add([]byte{sealVersion, 0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := s.Open(data, testAAD)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Forging a GCM tag by chance is out of reach: only data that came
		// from Seal (a seed) opens; it must open again after a new seal.
		again, err := s.Seal(plain, testAAD)
		if err != nil {
			t.Fatal(err)
		}
		if p2, err := s.Open(again, testAAD); err != nil || !bytes.Equal(p2, plain) {
			t.Fatalf("re-sealed plain does not open: %v", err)
		}
	})
}

func BenchmarkSeal1KB(b *testing.B) {
	s := mustAESGCM(b, testKey(32, 1))
	plain := bytes.Repeat([]byte("x"), 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		s.Seal(plain, testAAD)
	}
}

func BenchmarkOpen1KB(b *testing.B) {
	s := mustAESGCM(b, testKey(32, 1), testKey(32, 2))
	sealed, _ := s.Seal(bytes.Repeat([]byte("x"), 1024), testAAD)
	b.ReportAllocs()
	b.SetBytes(1024)
	for b.Loop() {
		s.Open(sealed, testAAD)
	}
}
