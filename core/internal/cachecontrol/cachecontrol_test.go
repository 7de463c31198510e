package cachecontrol

import (
	"net/http"
	"testing"
)

// TestPrivate: what addresses shared caches goes, what addresses the
// browser stays, quoted commas do not split a directive, no-store needs
// no "private".
func TestPrivate(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, "private"},
		{[]string{"public, max-age=60"}, "private, max-age=60"},
		{[]string{"s-maxage=600", "no-cache"}, "private, no-cache"},
		{[]string{`private="Set-Cookie", max-age=5`}, "private, max-age=5"},
		{[]string{`no-cache="a, b", public`}, `private, no-cache="a, b"`},
		{[]string{"no-store, public"}, "no-store"},
		{[]string{"PUBLIC , Max-Age=1"}, "private, Max-Age=1"},
	} {
		h := http.Header{}
		for _, v := range c.in {
			h.Add("Cache-Control", v)
		}
		h.Set("CDN-Cache-Control", "max-age=600")
		h.Set("Surrogate-Control", "max-age=600")
		Private(h)
		if got := h.Get("Cache-Control"); got != c.want || len(h.Values("Cache-Control")) != 1 {
			t.Errorf("%q: Cache-Control %q, want %q", c.in, h.Values("Cache-Control"), c.want)
		}
		if h.Get("CDN-Cache-Control") != "" || h.Get("Surrogate-Control") != "" {
			t.Errorf("%q: CDN headers kept", c.in)
		}
	}
}

// TestForwardedHTTPS: the first value (the client's hop) decides.
func TestForwardedHTTPS(t *testing.T) {
	for v, want := range map[string]bool{
		"": false, "https": true, "HTTPS": true, " https , http": true,
		"http, https": false, "httpsx": false,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("X-Forwarded-Proto", v)
		}
		if got := ForwardedHTTPS(h); got != want {
			t.Errorf("X-Forwarded-Proto %q: %v, want %v", v, got, want)
		}
	}
}
