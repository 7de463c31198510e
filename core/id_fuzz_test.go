package core

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gomsm/msm/core/internal/nodes"
)

// legalMemcachedKey reports whether key satisfies memcached's text
// protocol: 1 to 250 bytes, none of them a space, a control character or
// DEL. It is stricter than gomemcache (which lets DEL through), and
// rejects every byte >= 0x80 too: keys are ASCII by construction.
func legalMemcachedKey(key string) bool {
	if len(key) == 0 || len(key) > 250 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// idChar reports whether c may appear in a session id at all.
func idChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == '.'
}

// FuzzParseID feeds parseID (the gate every client-supplied id passes
// first) arbitrary strings, and keyFor arbitrary key prefixes that Config
// accepts. Properties: no panic; an accepted id is made of id characters
// only, has a 32-char lowercase hex base and re-formats to itself with
// formatID; the memcached keys derived from it (plain, bak:, lock:) are
// legal memcached keys, hold no route, and name the same base and node.
func FuzzParseID(f *testing.F) {
	base := "0123456789abcdef0123456789abcdef"
	for _, seed := range [][2]string{
		{base, ""},
		{base + "-n1", "app_"},
		{base + "-n1.app2", "shop-v2.eu:/"},
		{base + "-.r", ""},
		{base + "-" + strings.Repeat("N", 32) + "." + strings.Repeat("r-", 16), strings.Repeat("p", 64)},
		{base + "-n1\r\nflush_all", ""},
		{base + "-n1 ", "x"},
		{strings.ToUpper(base) + "-n1", ""},
		{base + "-ñ", ""},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, prefix string) {
		id, ok := parseID(s)
		if !ok {
			if id != (sessionID{}) {
				t.Fatalf("parseID(%q) rejected it but returned %+v", s, id)
			}
			return
		}
		if len(s) > maxIDLen {
			t.Fatalf("parseID accepted %d bytes, over maxIDLen %d", len(s), maxIDLen)
		}
		for i := 0; i < len(s); i++ {
			if !idChar(s[i]) {
				t.Fatalf("parseID(%q) accepted byte %#x at %d", s, s[i], i)
			}
		}
		if len(id.base) != baseLen || strings.Trim(id.base, "0123456789abcdef") != "" {
			t.Fatalf("parseID(%q): base %q is not 32 lowercase hex chars", s, id.base)
		}
		if len(id.node) > 32 || !validChars(id.node, false) || len(id.route) > 32 || !validChars(id.route, true) {
			t.Fatalf("parseID(%q) = %+v: node or route out of grammar", s, id)
		}
		if got := formatID(id.base, id.node, id.route); got != s {
			t.Fatalf("formatID(parseID(%q)) = %q", s, got)
		}

		if !keyPrefixRE.MatchString(prefix) {
			prefix = "" // Config rejects it: New never runs with it
		}
		key := keyFor(prefix, id.base, id.node)
		for _, k := range []string{key, "bak:" + key, lockKeyFor(prefix, id.base)} {
			if !legalMemcachedKey(k) {
				t.Fatalf("id %q, prefix %q: illegal memcached key %q", s, prefix, k)
			}
		}
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			t.Fatalf("key %q does not start with its prefix %q", key, prefix)
		}
		kid, ok := parseID(rest)
		if !ok || kid.base != id.base || kid.node != id.node || kid.route != "" {
			t.Fatalf("key %q (id %q) does not name base %q and node %q without route: %+v", key, s, id.base, id.node, kid)
		}
	})
}

// nodeIDGrammar is the node id grammar as the documentation states it.
var nodeIDGrammar = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

// FuzzParseNodes checks that ParseNodes never panics; that an accepted list
// has node ids that fit the session id grammar (unique, 1-32 of letters,
// digits and _; no id only for a lone node) and host:port addresses with a
// port from 1 to 65535; and that an error quotes the part it rejects.
func FuzzParseNodes(f *testing.F) {
	for _, seed := range []string{
		"", "localhost:11211", "n1:h1:11211,n2:h2:11212", "n1:h1:11211 n2:h2:11212",
		"a_B9:[::1]:11211", " n1:127.0.0.1:1 , n2:127.0.0.1:2 ", "n1:h:1\tn2:h:2\nn3:h:3",
		"h1:11211,h2:11212", "n-1:h:1", "n1:h:1,n1:h:2", "n1:h:x", "n1:h:70000", "justahost",
		"n1::11211", strings.Repeat("n", 33) + ":h:1", "n1:h:0", "[::1]:11211", "n1:h\x00:1", "ñ:h:1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parsed, err := ParseNodes(s)
		parts := nodes.SplitList(s)
		if err != nil {
			if parsed != nil {
				t.Fatalf("ParseNodes(%q) returned %v with error %v", s, parsed, err)
			}
			named := false
			for _, p := range parts {
				if strings.Contains(err.Error(), strconv.Quote(p)) {
					named = true
					break
				}
			}
			if !named {
				t.Fatalf("ParseNodes(%q): error %q quotes none of the parts %q", s, err, parts)
			}
			return
		}
		if len(parsed) != len(parts) {
			t.Fatalf("ParseNodes(%q) = %d nodes from %d parts", s, len(parsed), len(parts))
		}
		seen := map[string]bool{}
		for _, n := range parsed {
			if n.ID == "" {
				if len(parsed) != 1 {
					t.Fatalf("ParseNodes(%q): node without id among %d", s, len(parsed))
				}
			} else if !nodeIDGrammar.MatchString(n.ID) {
				t.Fatalf("ParseNodes(%q): id %q out of grammar", s, n.ID)
			}
			if seen[n.ID] {
				t.Fatalf("ParseNodes(%q): duplicate id %q", s, n.ID)
			}
			seen[n.ID] = true
			// The node id must survive a round trip through a session id,
			// or every session on the node would be unloadable.
			sid := formatID(strings.Repeat("a", baseLen), n.ID, "")
			if got, ok := parseID(sid); !ok || got.node != n.ID {
				t.Fatalf("ParseNodes(%q): node id %q does not round trip through session id %q", s, n.ID, sid)
			}
			host, port, err := net.SplitHostPort(n.Addr)
			if err != nil || host == "" {
				t.Fatalf("ParseNodes(%q): address %q is not host:port (%v)", s, n.Addr, err)
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				t.Fatalf("ParseNodes(%q): address %q has port %q", s, n.Addr, port)
			}
			if strings.ContainsAny(n.Addr, ", \t\n") {
				t.Fatalf("ParseNodes(%q): address %q holds a separator", s, n.Addr)
			}
			if strings.IndexFunc(n.Addr, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) >= 0 {
				t.Fatalf("ParseNodes(%q) accepted a control or non-ASCII character in address %q", s, n.Addr)
			}
		}
	})
}

// FuzzCookieHeader sends arbitrary Cookie headers through the middleware
// of a local-only Manager holding one session. Properties: no panic, no
// 5xx; the session is found only when the first session cookie of the
// header is a well-formed id with the session's base (no prefix, case or
// whitespace leniency). The node and route parts may differ: they are not
// secret, and a session keeps its base when it moves to another node.
func FuzzCookieHeader(f *testing.F) {
	m, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	var found bool
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := FromContext(r.Context())
		if r.URL.Path == "/create" {
			s.Set("k", "v")
			return
		}
		_, found = s.Get("k")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/create", nil))
	c := rec.Result().Cookies()
	if len(c) != 1 {
		f.Fatalf("creating a session set %d cookies", len(c))
	}
	id := c[0].Value
	for _, seed := range []string{
		"sid=" + id, "a=b; sid=" + id, "sid=" + strings.ToUpper(id), "sid=" + id + "x", "sid= " + id,
		"sid=\"" + id + "\"", "SID=" + id, "sid=" + id[:31], "sid=" + id + "\r\nX: y", "sid=" + strings.Repeat("0", 10000),
		"sid=" + id + ".r", "sid=" + id + "-n1", "sid=ñ", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/get", nil)
		req.Header["Cookie"] = []string{header}
		found = false
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("Cookie %q: status %d", header, rec.Code)
		}
		if !found {
			return
		}
		match := false
		for _, c := range req.Cookies() {
			if c.Name == DefaultCookieName {
				got, ok := parseID(c.Value)
				match = ok && got.base == id
				break // the middleware reads the first one
			}
		}
		if !match {
			t.Fatalf("Cookie %q found session %q without carrying its base, well-formed, first", header, id)
		}
	})
}
