package core

import "strings"

// Reserved attributes: what gomsm itself keeps with a session (the
// remember-me choice, the principal, the flash messages) is stored as
// attributes under names that start with ReservedPrefix, so it travels
// with the session to memcached and to every instance that loads it, in
// both modes, without a second stored format.

// ReservedPrefix starts the names of the attributes gomsm keeps for
// itself (SetPersist, SetPrincipal, AddFlash). Keys does not list them,
// Clear keeps the persist choice and the principal, and AttributeFilter
// never keeps them out of memcached. Applications must not use names
// with this prefix.
const ReservedPrefix = "gomsm:"

const (
	attrPersist   = ReservedPrefix + "persist"
	attrPrincipal = ReservedPrefix + "principal"
	attrFlashes   = ReservedPrefix + "flashes"
)

// reserved reports whether the attribute name k is one of gomsm's own.
func reserved(k string) bool { return strings.HasPrefix(k, ReservedPrefix) }

// keptByClear reports whether Clear leaves the attribute k alone: the
// session's settings stay, the application's data (flashes included) go.
func keptByClear(k string) bool { return k == attrPersist || k == attrPrincipal }

// staysLocal reports whether the attribute k is kept out of memcached by
// Config.AttributeFilter.
func (m *Manager) staysLocal(k string) bool {
	return m.cfg.attrFilter != nil && !reserved(k) && !m.cfg.attrFilter.MatchString(k)
}

// reservedValue returns the reserved attribute k of d as a T, and
// whether it is there. The decoded value is kept, so the next read is a
// map lookup; an absent attribute costs a map lookup and no allocation
// (it is read on every request). Called with d.mu held.
func reservedValue[T any](m *Manager, d *sessionData, k string) (T, bool) {
	if d.packed != nil {
		// A packed session (compact.go) stays packed: the attribute is
		// read from the block, as Get does.
		e, ok := d.packedGet(k)
		if !ok {
			var zero T
			return zero, false
		}
		if e.kind == packedString {
			v, ok := any(e.value()).(T)
			return v, ok
		}
		return decodeReserved[T](m, &attr{enc: e.enc, encOK: true})
	}
	a := d.attributes()[k]
	if a == nil {
		var zero T
		return zero, false
	}
	if x, ok := a.value.(T); ok && a.hasValue {
		return x, true
	}
	return decodeReserved[T](m, a)
}

// decodeReserved decodes a reserved attribute loaded from memcached (the
// slow path of reservedValue, in a function of its own so that the
// decoding target is allocated only here).
func decodeReserved[T any](m *Manager, a *attr) (T, bool) {
	v := new(T)
	if !a.encOK || m.cfg.Codec.Unmarshal(a.enc, v) != nil {
		return *v, false
	}
	a.value, a.hasValue = *v, true
	return *v, true
}
