// Package localstore holds what an instance keeps in its own memory: the
// sessions it serves (Store: sharded maps with an LRU bound that evicts
// sessions safe to drop first), the negative cache of ids memcached did
// not have (TTLSet, also the rate limit of the backup copies' TTL
// refresh, and of the primary copies' in non-sticky mode), the highest
// version seen of each session (VersionMemo), the CAS id each copy had
// when it was last read (CASMemo), and the last decode of each session's
// stored bytes, kept with the bytes so that only the very same bytes hit
// it (DecodeMemo).
//
// It knows nothing of sessions beyond their key and whether one is safe
// to drop, both given by the caller; it imports only the standard library.
package localstore
