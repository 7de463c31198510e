package core

// Flash messages: values added on one request and read (once) by a later
// one, typically after a redirect ("Added to cart"). They are a reserved
// attribute of the session, so they follow it to memcached and to any
// instance that serves the next request, in both modes.

// AddFlash adds v to the session's flash messages, creating the session
// if it has none. v must be encodable by the configured codec; a value
// read back on another instance comes in the codec's generic types (for
// CBOR: strings stay strings, numbers become int64 or uint64, structs
// become map[string]any), so plain strings are the safest messages.
func (s *Session) AddFlash(v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.writeData(true)
	if d == nil {
		return // inert: the request is on an ignored path
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old, _ := reservedValue[[]any](s.m, d, attrFlashes)
	// A new slice: a request of the same session that read the old one
	// may still hold it.
	flashes := append(make([]any, 0, len(old)+1), old...)
	d.attributes()[attrFlashes] = &attr{value: append(flashes, v), hasValue: true}
	s.markChanged()
}

// Flashes returns the session's flash messages in the order they were
// added and removes them, so each is shown once. It returns nil when
// there are none (it never creates a session), also when the session
// could not be loaded (Err).
func (s *Session) Flashes() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.data(false)
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	flashes, ok := reservedValue[[]any](s.m, d, attrFlashes)
	if !ok {
		if d.attributes()[attrFlashes] == nil {
			return nil
		}
		s.m.stats.decodeErrors.Add(1) // undecodable: drop them rather than fail every page
	}
	delete(d.attributes(), attrFlashes)
	s.markChanged()
	return flashes
}
