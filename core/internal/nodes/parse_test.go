package nodes

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string][]Spec{
		"":                                  nil,
		"localhost:11211":                   {{"", "localhost:11211"}},
		"n1:h1:11211,n2:h2:11212":           {{"n1", "h1:11211"}, {"n2", "h2:11212"}},
		"n1:h1:11211 n2:h2:11212":           {{"n1", "h1:11211"}, {"n2", "h2:11212"}},
		"a_B9:[::1]:11211":                  {{"a_B9", "[::1]:11211"}},
		" n1:127.0.0.1:1 , n2:127.0.0.1:2 ": {{"n1", "127.0.0.1:1"}, {"n2", "127.0.0.1:2"}},
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("Parse(%q) = %v, want %v", in, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("Parse(%q)[%d] = %v, want %v", in, i, got[i], want[i])
			}
		}
	}
	bad := map[string]string{ // input -> part the error must name
		"h1:11211,h2:11212":              "h1:11211",
		"n-1:h:1":                        "n-1",
		"n1:h:1,n1:h:2":                  "n1",
		"n1:h:x":                         `"x"`,
		"n1:h:70000":                     "70000",
		"justahost":                      "justahost",
		"n1::11211":                      "n1::11211",
		strings.Repeat("n", 33) + ":h:1": strings.Repeat("n", 33),
	}
	for in, part := range bad {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) accepted", in)
		} else if !strings.Contains(err.Error(), part) {
			t.Errorf("Parse(%q) error %q does not name %q", in, err, part)
		}
	}
}

// TestParseAddressEdgeCases pins down the fuzzers' findings on
// addresses: a lone IPv6 node without id is a valid address, and control
// characters are not.
func TestParseAddressEdgeCases(t *testing.T) {
	if n, err := Parse("[::1]:11211"); err != nil || len(n) != 1 || n[0] != (Spec{Addr: "[::1]:11211"}) {
		t.Errorf(`Parse("[::1]:11211") = %v, %v; want one node without id`, n, err)
	}
	for _, s := range []string{"n1:h\x00st:11211", "n1:h\r:11211", "h\x7f:11211", "n1:h\x01:1,n2:h:2"} {
		if _, err := Parse(s); err == nil || !strings.Contains(err.Error(), "address") {
			t.Errorf("Parse(%q) = %v; want an error naming the address", s, err)
		}
	}
}
