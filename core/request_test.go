package core_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
)

type parentKey struct{}

// The Middleware's request context carries the session and is the
// parent's in everything else: values, cancellation, and contexts
// derived from it by the handler.
func TestRequestContextIsTheParentsWithTheSession(t *testing.T) {
	m, err := core.New(core.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), parentKey{}, "from parent"))
	var sawSession, sawDerived bool
	var sawValue any
	var derivedDone <-chan struct{}
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		sawSession = core.FromContext(ctx) != nil
		sawValue = ctx.Value(parentKey{})
		child, stop := context.WithCancel(context.WithValue(ctx, "other", 1))
		t.Cleanup(stop)
		sawDerived = core.FromContext(child) == core.FromContext(ctx)
		derivedDone = child.Done()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(parent))
	if !sawSession || !sawDerived {
		t.Fatalf("session in the request context: %v, in a derived context: %v", sawSession, sawDerived)
	}
	if sawValue != "from parent" {
		t.Fatalf("parent's value = %v", sawValue)
	}
	cancel()
	select { // a context derived in the handler is cancelled with the parent
	case <-derivedDone:
	case <-time.After(effectWait):
		t.Fatal("a context derived from the request's was not cancelled with its parent")
	}
}
