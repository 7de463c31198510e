package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/codec"
)

const base = "0123456789abcdef0123456789abcdef"

func sample() *codec.Envelope {
	return &codec.Envelope{
		Version: 3, CreatedAt: time.Unix(1700000000, 0).UTC(), LastAccessed: time.Unix(1700000100, 0).UTC(),
		MaxInactive: time.Hour, Attributes: map[string][]byte{"a": []byte("x"), "b": []byte("yy")},
	}
}

func sealer(t *testing.T, key byte) codec.Sealer {
	t.Helper()
	s, err := codec.NewAESGCM(bytes.Repeat([]byte{key}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRoundTrip: what Encode makes, Decode gives back, in the clear and
// sealed; a sealed blob opens only for its own prefix and base.
func TestRoundTrip(t *testing.T) {
	for _, sl := range []codec.Sealer{nil, sealer(t, 1)} {
		f := Format{Codec: codec.CBOR, Sealer: sl, KeyPrefix: "app:", MaxBytes: 1 << 20}
		blob, err := f.Encode(sample(), base)
		if err != nil {
			t.Fatal(err)
		}
		env, err := f.Decode(blob, base)
		if err != nil {
			t.Fatalf("sealed %v: %v", sl != nil, err)
		}
		if env.Version != 3 || env.Codec != codec.CBOR.Name() || string(env.Attributes["b"]) != "yy" || env.MaxInactive != time.Hour {
			t.Errorf("sealed %v: decoded %+v", sl != nil, env)
		}
		if sl == nil {
			continue
		}
		other := strings.Repeat("f", 32)
		if _, err := f.Decode(blob, other); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("blob of %s opened as %s: %v", base, other, err)
		}
		f.KeyPrefix = "other:"
		if _, err := f.Decode(blob, base); !errors.Is(err, codec.ErrCorrupt) {
			t.Errorf("blob opened under another prefix: %v", err)
		}
	}
}

// TestSizeBound: Encode returns an oversized blob with ErrTooLarge (the
// caller logs its size); Decode refuses one without decoding it; the
// estimate of a sealed size includes the sealing overhead.
func TestSizeBound(t *testing.T) {
	f := Format{Codec: codec.CBOR, MaxBytes: 1 << 20}
	blob, err := f.Encode(sample(), base)
	if err != nil {
		t.Fatal(err)
	}
	f.MaxBytes = len(blob) - 1
	big, err := f.Encode(sample(), base)
	if !errors.Is(err, ErrTooLarge) || len(big) != len(blob) {
		t.Errorf("Encode over the bound: %d bytes, %v; want %d bytes and ErrTooLarge", len(big), err, len(blob))
	}
	if _, err := f.Decode(blob, base); !errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("Decode over the bound: %v, want ErrCorrupt", err)
	}
	f.MaxBytes = 1 << 20
	size, err := f.EstimateSize(sample())
	if err != nil || size != len(blob) {
		t.Errorf("EstimateSize = %d, %v; want %d", size, err, len(blob))
	}
	f.Sealer = sealer(t, 2)
	if size, _ := f.EstimateSize(sample()); size != len(blob)+codec.SealOverhead {
		t.Errorf("sealed EstimateSize = %d, want %d", size, len(blob)+codec.SealOverhead)
	}
	sealed, _ := f.Encode(sample(), base)
	if len(sealed) != len(blob)+codec.SealOverhead {
		t.Errorf("sealed size %d, estimated %d", len(sealed), len(blob)+codec.SealOverhead)
	}
}

// TestOtherCodecIsCorrupt: an envelope written with another codec is not
// decoded with the configured one.
func TestOtherCodecIsCorrupt(t *testing.T) {
	blob, err := Format{Codec: codec.JSON, MaxBytes: 1 << 20}.Encode(sample(), base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Format{Codec: codec.CBOR, MaxBytes: 1 << 20}).Decode(blob, base); !errors.Is(err, codec.ErrCorrupt) {
		t.Errorf("JSON envelope decoded as CBOR: %v", err)
	}
}

type panicky struct{}

func (panicky) Seal([]byte, []byte) ([]byte, error) { panic("boom") }
func (panicky) Open([]byte, []byte) ([]byte, error) { panic("boom") }

type badValue struct{}

func (badValue) MarshalJSON() ([]byte, error) { panic("boom") }

// TestPanicsBecomeErrors: a panicking Sealer or value marshaller is an
// error, never a panic (encoding runs with session locks held).
func TestPanicsBecomeErrors(t *testing.T) {
	blob, err := Format{Codec: codec.CBOR, Sealer: panicky{}, MaxBytes: 1 << 20}.Encode(sample(), base)
	if err == nil || blob != nil {
		t.Errorf("panicking Sealer: %d bytes, %v", len(blob), err)
	}
	if _, err := Marshal(codec.JSON, badValue{}); err == nil {
		t.Error("panicking marshaller: no error")
	}
}

// TestTombstoneIsNoEnvelope: the tombstone is recognised and never
// decodes as a session.
func TestTombstoneIsNoEnvelope(t *testing.T) {
	if !IsTombstone(Tombstone) || IsTombstone([]byte("MSM")) {
		t.Error("IsTombstone")
	}
	if _, err := (Format{Codec: codec.CBOR, MaxBytes: 1 << 20}).Decode(Tombstone, base); err == nil {
		t.Error("the tombstone decoded")
	}
}
