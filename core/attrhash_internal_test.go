package core

import "testing"

func hashOf(attrs map[string][]byte) uint64 {
	var h attrsHash
	for k, b := range attrs {
		a := &attr{}
		a.setEnc(b)
		h.add(k, a)
	}
	return h.value()
}

// The save skips a session whose attributes hash as the last copy's: any
// change to the set must change the hash, and the same set must hash the
// same whatever the order it is summed in.
func TestAttrsHashSeesEveryChange(t *testing.T) {
	base := map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("2")}
	for name, other := range map[string]map[string][]byte{
		"a value changed":   {"a": []byte("x"), "b": []byte("2"), "c": []byte("2")},
		"values swapped":    {"a": []byte("2"), "b": []byte("1"), "c": []byte("2")},
		"attribute deleted": {"a": []byte("1"), "b": []byte("2")},
		"attribute added":   {"a": []byte("1"), "b": []byte("2"), "c": []byte("2"), "d": nil},
		"key renamed":       {"a": []byte("1"), "b": []byte("2"), "d": []byte("2")},
		"bytes moved":       {"a": []byte("12"), "b": []byte(""), "c": []byte("2")},
		"no attributes":     {},
	} {
		if hashOf(other) == hashOf(base) {
			t.Errorf("%s: same hash as before the change", name)
		}
	}
	for range 20 { // map order differs between iterations
		if hashOf(base) != hashOf(map[string][]byte{"c": []byte("2"), "b": []byte("2"), "a": []byte("1")}) {
			t.Fatal("equal attributes hash differently")
		}
	}
}

// An attribute's cached hash follows its encoding: a new encoding (setEnc)
// is hashed again, never summed with the old one's hash.
func TestAttrHashFollowsItsEncoding(t *testing.T) {
	a := &attr{}
	a.setEnc([]byte("old"))
	var h1 attrsHash
	h1.add("k", a)
	a.setEnc([]byte("new"))
	var h2 attrsHash
	h2.add("k", a)
	if h2.value() != hashOf(map[string][]byte{"k": []byte("new")}) || h1.value() == h2.value() {
		t.Fatal("the hash of the old encoding outlived it")
	}
}
