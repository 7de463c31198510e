package msmtest

import (
	"slices"
	"testing"
)

func TestProxyRecordsCommands(t *testing.T) {
	t.Parallel()
	s := Start(t)
	p := StartProxy(t, s.Addr())
	c := dial(t, p.Addr())
	// The value looks like a command: Commands must skip it.
	const set = "set k 0 0 8\r\nget evil\r\n"
	c.do(set, "STORED")
	if got := c.do("get k\r\n", "END"); len(got) != 3 || got[1] != "get evil" {
		t.Errorf("get through proxy = %q", got)
	}

	if got, want := string(p.Received()), set+"get k\r\n"; got != want {
		t.Errorf("Received() = %q, want %q", got, want)
	}
	if got, want := p.Commands(), []string{"set k 0 0 8", "get k"}; !slices.Equal(got, want) {
		t.Errorf("Commands() = %q, want %q", got, want)
	}
	if n := s.Stat("cmd_set"); n != 1 {
		t.Errorf("memcached cmd_set = %d, want 1", n)
	}
}

func TestProxySeveralConnections(t *testing.T) {
	t.Parallel()
	s := Start(t)
	p := StartProxy(t, s.Addr())
	dial(t, p.Addr()).do("set a 0 0 1 noreply\r\nx\r\nget a\r\n", "END")
	dial(t, p.Addr()).do("delete a\r\n", "DELETED")
	if got, want := p.Commands(), []string{"set a 0 0 1 noreply", "get a", "delete a"}; !slices.Equal(got, want) {
		t.Errorf("Commands() = %q, want %q", got, want)
	}
}

func TestProxyTargetDown(t *testing.T) {
	t.Parallel()
	s := Start(t)
	p := StartProxy(t, s.Addr())
	s.Kill()
	c := dial(t, p.Addr())
	c.Write([]byte("get k\r\n"))
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("read through a proxy to a killed server succeeded, want EOF")
	}
}

func TestSplitCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"get a", nil}, // incomplete line
		{"get a b\r\ngets c\n", []string{"get a b", "gets c"}},
		{"set a 0 0 3\r\nabc\r\nget a\r\n", []string{"set a 0 0 3", "get a"}},
		{"set a 0 0 3\r\nab", []string{"set a 0 0 3"}}, // data still arriving
		{"set a 0 0 4\r\n\r\n\r\n\r\ntouch a 1\r\n", []string{"set a 0 0 4", "touch a 1"}},
		{"cas a 1 2 5 99 noreply\r\nhello\r\nadd b 0 0 0\r\n\r\nappend a 0 0 1\r\nx\r\nprepend a 0 0 1\r\nx\r\nreplace a 0 0 1\r\nx\r\n",
			[]string{"cas a 1 2 5 99 noreply", "add b 0 0 0", "append a 0 0 1", "prepend a 0 0 1", "replace a 0 0 1"}},
		{"ms a 2 T0 F5\r\nhi\r\nmg a v\r\n", []string{"ms a 2 T0 F5", "mg a v"}},
		{"set a 0 0 bad\r\nget b\r\n", []string{"set a 0 0 bad", "get b"}},
		{"\r\nstats\r\n", []string{"", "stats"}},
	}
	for _, tt := range tests {
		if got := splitCommands([]byte(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("splitCommands(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
