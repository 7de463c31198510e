package codec

import (
	"encoding/gob"
	"strings"
	"testing"
	"time"
)

type benchProfile struct {
	ID     int
	Name   string
	Email  string
	Active bool
}

func init() { gob.Register(benchProfile{}) }

// benchSession is a 1 KB session: 10 attributes of about 100 bytes each.
var benchSession = []struct {
	key string
	val any
}{
	{"user.name", strings.Repeat("n", 90)},
	{"user.email", "ada.lovelace@analytical-engine.example.org/with/some/padding/to/reach/about/a/hundred/bytes"},
	{"user.id", 1234567890},
	{"visits", 42},
	{"csrf", strings.Repeat("c", 96)},
	{"profile", benchProfile{ID: 7, Name: "Ada Lovelace", Email: "ada@example.org", Active: true}},
	{"roles", []string{"admin", "editor", "viewer", "billing", "support", "ops", "dev", "qa"}},
	{"cart", []string{"sku-0001", "sku-0002", "sku-0003", "sku-0004", "sku-0005", "sku-0006"}},
	{"locale", "en-GB; timezone=Europe/London; currency=GBP; units=metric; theme=dark; density=compact"},
	{"last.page", "/shop/category/books/programming/go?page=3&sort=price-asc&filter=in-stock&view=grid"},
}

func BenchmarkEncodeHash(b *testing.B) {
	for _, c := range codecs {
		b.Run(c.Name(), func(b *testing.B) {
			b.ReportAllocs()
			attrs := make(map[string][]byte, len(benchSession))
			var size int
			for b.Loop() {
				size = 0
				for _, a := range benchSession {
					data, err := c.Marshal(a.val)
					if err != nil {
						b.Fatal(err)
					}
					attrs[a.key] = data
					size += len(data)
				}
				AttributesHash(attrs)
			}
			b.ReportMetric(float64(size), "session-bytes")
		})
	}
}

func BenchmarkAttributesHash(b *testing.B) {
	attrs := make(map[string][]byte)
	for _, a := range benchSession {
		attrs[a.key] = make([]byte, 100)
	}
	b.ReportAllocs()
	b.SetBytes(1000)
	for b.Loop() {
		AttributesHash(attrs)
	}
}

func BenchmarkEnvelope(b *testing.B) {
	attrs := make(map[string][]byte)
	for _, a := range benchSession {
		attrs[a.key], _ = CBOR.Marshal(a.val)
	}
	e := &Envelope{Codec: "cbor", Version: 9, CreatedAt: time.Now(), LastAccessed: time.Now(),
		MaxInactive: time.Hour, Attributes: attrs}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeEnvelope(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	data, _ := EncodeEnvelope(e)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEnvelope(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
