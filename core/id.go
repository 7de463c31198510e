package core

import (
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"strconv"
)

// A session id is "<base>-<node>[.<route>]":
//   - base: 32 lowercase hex chars from 16 bytes of crypto/rand;
//   - node: id of the memcached node holding the session's copy, left out
//     when a single node is configured without id (and in local-only mode);
//   - route: the serving instance's route, when one is configured.
//
// The memcached key is KeyPrefix + base + "-" + node: the route is left out
// so that a session taken over by another instance keeps its key.

const (
	baseLen  = 32
	maxIDLen = baseLen + 1 + 32 + 1 + 32
)

// sessionID is a parsed, grammatically valid session id.
type sessionID struct {
	base, node, route string
}

// newBase returns 128 random bits as 32 lowercase hex chars.
func newBase() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b[:])
}

// parseID checks s against the id grammar, byte by byte, before anything
// else looks at it: a client-supplied string that passes holds nothing but
// [0-9a-f], the id characters and at most one '-' and one '.'.
func parseID(s string) (sessionID, bool) {
	if len(s) < baseLen || len(s) > maxIDLen {
		return sessionID{}, false
	}
	for i := 0; i < baseLen; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return sessionID{}, false
		}
	}
	id := sessionID{base: s[:baseLen]}
	rest := s[baseLen:]
	if rest == "" {
		return id, true
	}
	if rest[0] != '-' {
		return sessionID{}, false
	}
	rest = rest[1:]
	node := rest
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			node, id.route = rest[:i], rest[i+1:]
			if id.route == "" || len(id.route) > 32 || !validChars(id.route, true) {
				return sessionID{}, false
			}
			break
		}
	}
	if node == "" && id.route == "" {
		return sessionID{}, false
	}
	if len(node) > 32 || !validChars(node, false) {
		return sessionID{}, false
	}
	id.node = node
	return id, true
}

// validChars reports whether s holds only letters, digits and '_' (and '-'
// when dash is true).
func validChars(s string, dash bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || dash && c == '-') {
			return false
		}
	}
	return true
}

// formatID builds the id string of base on node with route.
func formatID(base, node, route string) string {
	if node == "" && route == "" {
		return base
	}
	s := base + "-" + node
	if route != "" {
		s += "." + route
	}
	return s
}

// keyFor is the memcached key of base on node. Every part is validated
// (base by construction or parseID, node against the configured ids,
// prefix by Config), so the key is legal by construction.
func keyFor(prefix, base, node string) string {
	if node == "" {
		return prefix + base
	}
	return prefix + base + "-" + node
}

// fingerprint is a short, non-reversible tag of a session id for logs and
// the admin handler: ids are secrets and never appear whole.
func fingerprint(base string) string {
	h := fnv.New32a()
	h.Write([]byte(base))
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}
