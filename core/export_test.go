package core

// NodeChecks returns how often the refiller has read a node's identity, so
// that a test can wait until it knows the node before emptying it.
func NodeChecks(m *Manager) uint64 { return m.nodeChecks.Load() }

// Every test of the package checks the moves of the session state
// machines (state.go): an illegal one panics.
func init() { strictStates = true }

// DecodeMemoLen returns how many sessions the memo of decodes holds (0
// in sticky mode).
func DecodeMemoLen(m *Manager) int {
	if m.ns == nil {
		return 0
	}
	return m.ns.decoded.Len()
}
