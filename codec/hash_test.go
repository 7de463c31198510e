package codec

import (
	"strconv"
	"testing"
)

func TestAttributesHashEqual(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 10, hashStackKeys, hashStackKeys + 1, 200} {
		a := make(map[string][]byte)
		b := make(map[string][]byte)
		for i := range n {
			a["k"+strconv.Itoa(i)] = []byte("value " + strconv.Itoa(i))
		}
		for i := n - 1; i >= 0; i-- {
			b["k"+strconv.Itoa(i)] = []byte("value " + strconv.Itoa(i))
		}
		if AttributesHash(a) != AttributesHash(b) {
			t.Errorf("n=%d: equal maps hash differently", n)
		}
	}
	if AttributesHash(nil) != AttributesHash(map[string][]byte{}) {
		t.Error("nil and empty maps hash differently")
	}
	// The values are fixed across runs, platforms and releases.
	if got := AttributesHash(nil); got != 0xa8c7f832281a39c5 {
		t.Errorf("AttributesHash(nil) = %#x", got)
	}
	if got := AttributesHash(map[string][]byte{"a": []byte("b")}); got != 0x2d3190cd27d75b5d {
		t.Errorf("AttributesHash({a: b}) = %#x", got)
	}
}

func TestAttributesHashDiffers(t *testing.T) {
	t.Parallel()
	base := map[string][]byte{"user": []byte("ada"), "cart": []byte("123"), "x": nil}
	variants := map[string]map[string][]byte{
		"value byte changed": {"user": []byte("adb"), "cart": []byte("123"), "x": nil},
		"value longer":       {"user": []byte("ada!"), "cart": []byte("123"), "x": nil},
		"key renamed":        {"usEr": []byte("ada"), "cart": []byte("123"), "x": nil},
		"attribute added":    {"user": []byte("ada"), "cart": []byte("123"), "x": nil, "y": nil},
		"attribute removed":  {"user": []byte("ada"), "cart": []byte("123")},
		"empty value set":    {"user": []byte("ada"), "cart": []byte("123"), "x": {0}},
		"values swapped":     {"user": []byte("123"), "cart": []byte("ada"), "x": nil},
	}
	h := AttributesHash(base)
	for name, m := range variants {
		if AttributesHash(m) == h {
			t.Errorf("%s: same hash", name)
		}
	}
	pairs := [][2]map[string][]byte{
		{{"ab": []byte("c")}, {"a": []byte("bc")}},
		{{"a": []byte("xy"), "b": nil}, {"a": []byte("x"), "b": []byte("y")}},
		{{"a": nil}, {"": []byte("a")}},
		{{}, {"": nil}},
	}
	for i, p := range pairs {
		if AttributesHash(p[0]) == AttributesHash(p[1]) {
			t.Errorf("pair %d: %q and %q hash equal", i, p[0], p[1])
		}
	}
}

func TestAttributesHashNoAllocs(t *testing.T) {
	m := make(map[string][]byte)
	for i := range 10 {
		m["attribute-"+strconv.Itoa(i)] = make([]byte, 100)
	}
	if n := testing.AllocsPerRun(100, func() { AttributesHash(m) }); n != 0 {
		t.Errorf("AttributesHash of 10 attributes: %v allocs, want 0", n)
	}
}
