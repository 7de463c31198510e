package core

import (
	"errors"
	"expvar"
	"fmt"
	"sync"
)

// ErrExpvarNameTaken is returned by PublishExpvar for a name that is
// already published in the process.
var ErrExpvarNameTaken = errors.New("core: expvar name already published")

// expvarMu makes PublishExpvar's check-then-publish atomic among Managers.
var expvarMu sync.Mutex

// PublishExpvar publishes the Manager's Stats under name in the expvar
// package, so that /debug/vars (served by importing expvar on
// http.DefaultServeMux, or by expvar.Handler) shows them as JSON: a fresh
// snapshot on every read. It is the statistics for users without
// Prometheus.
//
// expvar names are global to the process and cannot be unpublished: expvar
// itself panics on a second Publish of a name. PublishExpvar returns an
// error wrapping ErrExpvarNameTaken instead (for a name published by another
// Manager or by other code), and an error for an empty name. A published
// Manager stays referenced by expvar for the life of the process: publish
// long-lived Managers only, once each.
func (m *Manager) PublishExpvar(name string) error {
	if name == "" {
		return errors.New("core: PublishExpvar: empty name")
	}
	expvarMu.Lock()
	defer expvarMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("%w: %q", ErrExpvarNameTaken, name)
	}
	expvar.Publish(name, expvar.Func(func() any { return m.Stats() }))
	return nil
}
