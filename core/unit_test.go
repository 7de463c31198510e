package core

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core/internal/localstore"
)

func TestParseIDGrammar(t *testing.T) {
	base := "0123456789abcdef0123456789abcdef"
	ok := map[string]sessionID{
		base:               {base: base},
		base + "-n1":       {base: base, node: "n1"},
		base + "-n1.app_2": {base: base, node: "n1", route: "app_2"},
		base + "-.r":       {base: base, route: "r"},
		base + "-n1.a-b":   {base: base, node: "n1", route: "a-b"},
	}
	for in, want := range ok {
		got, valid := parseID(in)
		if !valid || got != want {
			t.Errorf("parseID(%q) = %+v, %v; want %+v", in, got, valid, want)
		}
		if f := formatID(got.base, got.node, got.route); f != in {
			t.Errorf("formatID round trip of %q = %q", in, f)
		}
	}
	for _, in := range []string{"", base[:31], strings.ToUpper(base), base + "n1", base + "-",
		base + "-n1.", base + "-n-1", base + "-n1.r.s", base + "-n1 ", base + "-n1\r\n",
		base + "-" + strings.Repeat("n", 33), base + "-n1." + strings.Repeat("r", 33)} {
		if _, valid := parseID(in); valid {
			t.Errorf("parseID(%q) accepted", in)
		}
	}
	if b := newBase(); len(b) != 32 || b == newBase() {
		t.Errorf("newBase() = %q: want 32 fresh hex chars", b)
	}
}

func TestExpirationUsesAbsoluteTimeBeyond30Days(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		in   time.Duration
		want int32
	}{
		{-1, 0},
		{1500 * time.Millisecond, 2},
		{30 * time.Minute, 1800},
		{30 * 24 * time.Hour, 30 * 24 * 3600},
		{31 * 24 * time.Hour, int32(now.Unix()) + 31*24*3600},
	}
	for _, c := range cases {
		if got := expiration(c.in, now); got != c.want {
			t.Errorf("expiration(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestMutableTypes(t *testing.T) {
	type flat struct {
		A int
		B string
		T time.Time
	}
	type deep struct {
		A int
		M map[string]int
	}
	cases := []struct {
		v    any
		want bool
	}{
		{"s", false}, {1, false}, {2.5, false}, {true, false}, {flat{}, false}, {[2]int{}, false},
		{time.Time{}, false}, {deep{}, true}, {&flat{}, true}, {[1][]int{}, true},
		{map[string]int{}, true}, {[]int{}, true},
	}
	for _, c := range cases {
		if got := mutable(c.v); got != c.want {
			t.Errorf("mutable(%T) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]Config{
		"IgnorePattern":    {IgnorePattern: "("},
		"AttributeFilter":  {AttributeFilter: "[z-a]"},
		"LockingMode":      {LockingMode: "sometimes"},
		"KeyPrefix":        {KeyPrefix: "has space"},
		"Route":            {Route: "a.b"},
		"__Host-":          {Cookie: CookieConfig{Name: "__Host-sid"}},
		"Partitioned":      {Cookie: CookieConfig{Partitioned: true}},
		"OperationTimeout": {OperationTimeout: -time.Second},
		"FailoverNodes":    {Nodes: "n1:h:1", FailoverNodes: "n2"},
		"Nodes":            {Nodes: "n1:h:1,h:2"},
	}
	for field, cfg := range cases {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("New accepted a bad %s", field)
		} else if !strings.Contains(err.Error(), field) {
			t.Errorf("error for %s does not name it: %v", field, err)
		}
	}
	m, err := New(Config{})
	if err != nil {
		t.Fatalf("New(Config{}): %v", err)
	}
	defer m.Close()
	c := m.cfg
	if c.MaxInactive != DefaultMaxInactive || c.Cookie.Name != "sid" || c.MaxSessionBytes != DefaultMaxSessionBytes ||
		c.OperationTimeout != DefaultOperationTimeout || c.Codec == nil || c.LockingMode != LockNone {
		t.Errorf("zero Config did not get the defaults: %+v", c.Config)
	}
}

func TestLocalMemoryIsBoundedByDefault(t *testing.T) {
	for _, tc := range []struct {
		max   int
		bound int // sessions the store can hold, 0: unbounded
	}{{0, DefaultMaxLocalSessions}, {-1, 0}, {10, 10}} {
		m, err := New(Config{MaxLocalSessions: tc.max, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		bound := m.store.Bound()
		m.Close()
		// Sharding rounds the bound up to a multiple of the shards.
		if bound < tc.bound || bound >= tc.bound+localstore.MaxShards || (tc.bound == 0) != (bound == 0) {
			t.Errorf("MaxLocalSessions %d: the store holds up to %d sessions, want %d", tc.max, bound, tc.bound)
		}
	}
}

func TestCookieValueMatchesNetHTTP(t *testing.T) {
	for _, h := range []string{"sid=abc", "a=1; sid=abc; b=2", "sidx=1; sid=abc", `sid="abc"`, "a=1", "", "sid=", "  sid=abc  ;x=y", "sid=a b"} {
		req, _ := http.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", h)
		want := ""
		if c, err := req.Cookie("sid"); err == nil {
			want = c.Value
		}
		if got := cookieValue(req.Header["Cookie"], "sid"); got != want && !(want == "" && strings.Contains(h, " b")) {
			t.Errorf("cookieValue(%q) = %q, net/http says %q", h, got, want)
		}
	}
}

func TestIdleSessionsArePackedAndUnpackedIntact(t *testing.T) {
	// The session below was last used an hour ago: idle for CompactAfter.
	// Once used again it is not, so the Manager's own sweeper, which runs
	// beside the test's calls to sweep, cannot pack it again meanwhile.
	m, err := New(Config{CompactAfter: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	type pt struct{ X, Y int }
	d := m.create()
	d.mu.Lock()
	d.attrs["s"] = &attr{value: "str", hasValue: true}
	d.attrs["p"] = &attr{value: pt{1, 2}, hasValue: true}
	d.attrs["m"] = &attr{value: map[string]any{"a": "b"}, hasValue: true}
	d.inUse = 1
	d.maxInactive = 2 * time.Hour
	d.lastAccessed = instantOf(time.Now().Add(-time.Hour))
	d.mu.Unlock()
	// packed reads d's state under its lock: the sweeper may run at the
	// same time.
	packed := func() (packed, attrs bool) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.packed != nil, d.attrs != nil
	}
	m.sweep(time.Now())
	if p, _ := packed(); p {
		t.Fatal("a session in use was packed")
	}
	d.mu.Lock()
	d.inUse = 0
	d.mu.Unlock()
	m.sweep(time.Now())
	if p, a := packed(); !p || a {
		t.Fatal("idle session not packed")
	}
	s := &Session{m: m, d: d, lookup: lookupDone}
	if got := s.GetString("s"); got != "str" {
		t.Errorf("s = %q after unpacking", got)
	}
	if got, err := GetAs[pt](s, "p"); err != nil || got != (pt{1, 2}) {
		t.Errorf("p = %v, %v after unpacking", got, err)
	}
	if v, ok := s.Get("m"); !ok || v.(map[string]any)["a"] != "b" {
		t.Errorf("m = %v after unpacking", v)
	}
	if p, _ := packed(); p {
		t.Error("still packed after use")
	}
}

func TestNonStickyRefusesSettingsThatWouldLoseSessions(t *testing.T) {
	for name, cfg := range map[string]Config{
		"Disabled":        {Nodes: "n1:127.0.0.1:1", NonSticky: true, Disabled: true},
		"AttributeFilter": {Nodes: "n1:127.0.0.1:1", NonSticky: true, AttributeFilter: "^a"},
		"Nodes":           {NonSticky: true},
	} {
		if m, err := New(cfg); err == nil {
			m.Close()
			t.Errorf("New accepted NonSticky with %s", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("error for NonSticky with %s does not name it: %v", name, err)
		}
	}
	m, err := New(Config{Nodes: "n1:127.0.0.1:1", NonSticky: true, Route: "app1"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetEnabled(false)
	if !m.Enabled() {
		t.Error("SetEnabled(false) switched memcached off in non-sticky mode")
	}
	if m.cfg.Route != "" {
		t.Errorf("Route %q kept in non-sticky mode", m.cfg.Route)
	}
}
