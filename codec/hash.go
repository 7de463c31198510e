package codec

import "slices"

// FNV-1a, 64 bit.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// hashStackKeys is how many keys AttributesHash sorts without allocating.
const hashStackKeys = 32

// AttributesHash returns a 64-bit FNV-1a hash of attrs, fed the attribute
// count and then, in sorted key order, each key and value with its length
// in front, so that moving bytes between a key and its value, or between
// two attributes, changes the hash. Equal maps (nil and empty included)
// hash equal in every process and on every platform; core compares hashes
// to skip backing up a session whose attributes did not change. It is not
// a cryptographic hash. Up to 32 attributes it does not allocate.
func AttributesHash(attrs map[string][]byte) uint64 {
	var stack [hashStackKeys]string
	var keys []string
	if len(attrs) <= len(stack) {
		keys = stack[:0]
	} else {
		keys = make([]string, 0, len(attrs))
	}
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	h := hashLen(fnvOffset64, len(keys))
	for _, k := range keys {
		h = hashLen(h, len(k))
		for i := 0; i < len(k); i++ {
			h = (h ^ uint64(k[i])) * fnvPrime64
		}
		v := attrs[k]
		h = hashLen(h, len(v))
		for _, b := range v {
			h = (h ^ uint64(b)) * fnvPrime64
		}
	}
	return h
}

// hashLen feeds n to the hash as 8 little-endian bytes.
func hashLen(h uint64, n int) uint64 {
	u := uint64(n)
	for range 8 {
		h = (h ^ (u & 0xff)) * fnvPrime64
		u >>= 8
	}
	return h
}
