package core

// PrincipalIndexNodes returns the ids of the nodes that keep principal's
// index, so that a test can kill the one that holds it.
func PrincipalIndexNodes(m *Manager, principal string) []string {
	_, sum := m.indexKey(principal)
	var ids []string
	for _, n := range m.indexNodes(sum) {
		ids = append(ids, n.ID)
	}
	return ids
}
