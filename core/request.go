package core

import (
	"context"
	"net/http"
)

// request is what the Middleware allocates for one request: its Session,
// core's response writer and the context that carries the session, in
// one allocation instead of three (every request pays them, sticky reads
// included).
type request struct {
	s   Session
	rw  responseWriter
	ctx sessionContext
}

// withSession returns r with a context that carries q's session
// (FromContext).
func (q *request) withSession(r *http.Request) *http.Request {
	q.ctx = sessionContext{Context: r.Context(), s: &q.s}
	return r.WithContext(&q.ctx)
}

// sessionContext is context.WithValue(parent, ctxKey{}, s) without an
// allocation of its own. It embeds its parent, so cancellation, deadlines
// and every other value (the context package's own keys included) are the
// parent's.
type sessionContext struct {
	context.Context
	s *Session
}

// Value returns the session for ctxKey{}, the parent's value otherwise.
func (c *sessionContext) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return c.s
	}
	return c.Context.Value(key)
}

// String names the context as context.WithValue's would, for debugging.
func (c *sessionContext) String() string {
	return "core.sessionContext"
}
