package core_test

import (
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/msmtest"
)

// BenchmarkMemcachedLink measures one memcached round trip (a get of a
// 1 KB item) over a plain connection, over TLS, and over TLS with
// authentication, against real memcached; "dial" variants open a new
// connection for every operation, the cost a login or handshake adds when
// the pool is empty. Compare the sub-benchmarks of one run:
//
//	go test -run '^$' -bench MemcachedLink -benchmem ./core
func BenchmarkMemcachedLink(b *testing.B) {
	dir := b.TempDir()
	ca, err := msmtest.NewTestCA(dir)
	if err != nil {
		b.Fatal(err)
	}
	links := []struct {
		name string
		link msmtest.Link
	}{
		{"plain", msmtest.Link{}},
		{"tls", msmtest.Link{CA: ca}},
		{"tls+auth", msmtest.Link{CA: ca, Username: "shop", Password: "pw", Dir: dir}},
	}
	for _, l := range links {
		o := msmtest.Options{}
		if l.link.CA != nil || l.link.Username != "" {
			if o, err = msmtest.WithLink(o, l.link); err != nil {
				b.Fatal(err)
			}
		}
		mc := msmtest.Start(b, o)
		for _, dial := range []bool{false, true} {
			name := l.name
			if dial {
				name += "/dial"
			}
			b.Run(name, func(b *testing.B) {
				c := memcache.New(mc.Addr())
				c.DialContext = l.link.DialContext
				if err := c.Set(&memcache.Item{Key: "k", Value: make([]byte, 1024)}); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if dial {
						c.Close() // no idle connection: the get dials
					}
					if _, err := c.Get("k"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
