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

// reservedValue decodes the reserved attribute k of d into *v and reports
// whether it is there. The decoded value is kept, so the next read is a
// map lookup. Called with d.mu held.
func reservedValue[T any](m *Manager, d *sessionData, k string, v *T) bool {
	a := d.attributes()[k]
	if a == nil {
		return false
	}
	if x, ok := a.value.(T); ok && a.hasValue {
		*v = x
		return true
	}
	if !a.encOK || m.cfg.Codec.Unmarshal(a.enc, v) != nil {
		return false
	}
	a.value, a.hasValue = *v, true
	return true
}
