package core

// SetPrincipal ties the session to a principal (stub).
func (s *Session) SetPrincipal(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(true)
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attributes()[attrPrincipal] = &attr{value: name, hasValue: true}
	s.changed = true
}
