package cachecontrol

import (
	"net/http"
	"strings"
)

// Private makes a response that sets the session cookie (or
// id header) uncacheable by shared caches: it adds "private" unless the
// handler said "no-store", drops what addresses shared caches ("public",
// "s-maxage", a "private" limited to some fields) and keeps the rest (a
// max-age for the browser, no-cache, ...). CDN-Cache-Control and
// Surrogate-Control, which CDNs obey instead of Cache-Control, are removed.
func Private(h http.Header) {
	h.Del("CDN-Cache-Control")
	h.Del("Surrogate-Control")
	vals := h.Values("Cache-Control")
	if len(vals) == 0 {
		h.Set("Cache-Control", "private") // the common case
		return
	}
	out := []string{"private"}
	for _, v := range vals {
		for _, d := range splitDirectives(v) {
			name, _, _ := strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "public", "s-maxage":
				continue
			case "private":
				// out starts with a bare one; private="Set-Cookie" would let
				// shared caches keep the rest.
				continue
			case "no-store":
				out[0] = "" // no cache stores it: "private" adds nothing
			}
			out = append(out, d)
		}
	}
	if out[0] == "" {
		out = out[1:]
	}
	h.Set("Cache-Control", strings.Join(out, ", "))
}

// splitDirectives splits a Cache-Control value at the commas that are not
// inside a quoted string, trimming each directive; empty ones are dropped.
func splitDirectives(v string) []string {
	var ds []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			if d := strings.TrimSpace(v[start:i]); d != "" {
				ds = append(ds, d)
			}
			start = i + 1
		}
	}
	if d := strings.TrimSpace(v[start:]); d != "" {
		ds = append(ds, d)
	}
	return ds
}

// ForwardedHTTPS reports whether the X-Forwarded-Proto header says the
// client's request came over HTTPS. With several values (one per proxy),
// the first is the client's.
func ForwardedHTTPS(h http.Header) bool {
	v := h.Get("X-Forwarded-Proto")
	first, _, _ := strings.Cut(v, ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}
