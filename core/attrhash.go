package core

import "hash/maphash"

// The hash that tells a save whether the attributes changed since the
// last copy went to memcached (sessionData.lastHash). It is a sum of one
// hash per attribute, each kept beside the attribute's encoding (attr.hash),
// so a save hashes only the attributes encoded since: an unchanged
// attribute is neither encoded nor hashed again. The hash lives in this
// process's memory only, so its seed is this process's.

var attrSeed = maphash.MakeSeed()

// setEnc makes b the attribute's current encoding; its hash is computed
// when a save next needs it.
func (a *attr) setEnc(b []byte) {
	a.enc, a.encOK, a.hashed, a.strInEnc = b, true, false, false
}

// attrsHash sums the hashes of a set of attributes, in any order.
type attrsHash struct {
	n     uint64
	total uint64
}

// add adds attribute k, whose encoding is current (a.encOK).
func (h *attrsHash) add(k string, a *attr) {
	if !a.hashed {
		a.hash, a.hashed = maphash.Bytes(attrSeed, a.enc), true
	}
	h.addHash(k, a.hash)
}

// addEnc adds attribute k encoded as enc, hashing enc.
func (h *attrsHash) addEnc(k string, enc []byte) {
	h.addHash(k, maphash.Bytes(attrSeed, enc))
}

func (h *attrsHash) addHash(k string, encHash uint64) {
	// The key and the value's hash mixed into one well-spread word: equal
	// values under two keys, or two values swapped between keys, give
	// different terms, and a sum of such terms changes with any one.
	h.total += mix64(maphash.String(attrSeed, k) ^ mix64(encHash))
	h.n++
}

// value is the hash of the attributes added (the count included, so that
// no attributes and a deleted one differ).
func (h *attrsHash) value() uint64 { return h.total ^ mix64(h.n+0x9e3779b97f4a7c15) }

// mix64 is the splitmix64 finalizer: every input bit moves every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
