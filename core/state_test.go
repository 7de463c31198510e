package core

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gomsm/msm/core/internal/nodes"
)

// machine is a state type of state.go.
type machine[S any] interface {
	comparable
	fmt.Stringer
	canMove(S) bool
}

// checkMoves checks every move between states against legal.
func checkMoves[S machine[S]](t *testing.T, name string, states []S, legal map[[2]S]bool) {
	t.Helper()
	for _, from := range states {
		for _, to := range states {
			if got := from.canMove(to); got != legal[[2]S{from, to}] {
				t.Errorf("%s %v -> %v allowed = %v", name, from, to, got)
			}
		}
	}
}

// TestStateMovesAreTheDiagrams checks every move of every machine against
// the diagrams of state.go, written out here as the list of legal moves.
func TestStateMovesAreTheDiagrams(t *testing.T) {
	checkMoves(t, "lookup", []lookupState{lookupPending, lookupDone, lookupIgnored, lookupUnavailable, lookupRejected},
		map[[2]lookupState]bool{
			{lookupPending, lookupDone}: true, {lookupPending, lookupIgnored}: true,
			{lookupPending, lookupUnavailable}: true, {lookupPending, lookupRejected}: true,
		})
	checkMoves(t, "life", []lifeState{lifeFound, lifeCreated, lifeInvalidated},
		map[[2]lifeState]bool{
			{lifeFound, lifeCreated}: true, {lifeFound, lifeInvalidated}: true,
			{lifeCreated, lifeInvalidated}: true, {lifeInvalidated, lifeCreated}: true,
		})
	checkMoves(t, "reply", []replyState{replyPending, replySent, replyFailed, replyHijacked},
		map[[2]replyState]bool{
			{replyPending, replySent}: true, {replyPending, replyFailed}: true, {replyPending, replyHijacked}: true,
		})
	checkMoves(t, "save", []saveState{saveNone, saveStored, saveFailed},
		map[[2]saveState]bool{
			{saveNone, saveStored}: true, {saveNone, saveFailed}: true,
			{saveStored, saveStored}: true, {saveStored, saveFailed}: true,
		})
}

// panics reports whether f panicked with an illegal-move message.
func panics(f func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg, _ = p.(string)
		}
	}()
	f()
	return ""
}

// TestIllegalMovePanicsUnderTest: the package's tests run with
// strictStates (export_test.go), so a move the diagrams do not allow
// panics, naming the machine and both states; a legal path does not.
func TestIllegalMovePanicsUnderTest(t *testing.T) {
	if !strictStates {
		t.Fatal("strictStates is off: the tests would not catch illegal moves")
	}
	s := &Session{}
	if msg := panics(func() {
		s.lookedUp()
		s.lifeCreate()
		s.lifeInvalidate()
		s.lifeCreate()
		s.saveStore()
		s.saveStore()
		s.saveFail(errors.New("x"))
		s.replyEnd(replySent)
	}); msg != "" {
		t.Fatalf("a legal path panicked: %s", msg)
	}
	for name, c := range map[string]struct {
		move func()
		want string
	}{
		"lookup twice":       {s.lookedUp, "lookup done -> done"},
		"reject after done":  {func() { s.lookupReject(ErrLockTimeout) }, "lookup done -> rejected"},
		"create twice":       {s.lifeCreate, "life created -> created"},
		"reply twice":        {func() { s.replyEnd(replyFailed) }, "reply sent -> failed"},
		"save after failure": {s.saveStore, "save failed -> stored"},
		"fail twice":         {func() { s.saveFail(ErrSaveFailed) }, "save failed -> failed"},
	} {
		if msg := panics(c.move); !strings.Contains(msg, c.want) {
			t.Errorf("%s: panic %q, want one naming %q", name, msg, c.want)
		}
	}
	if s.lookup != lookupDone || s.life != lifeCreated || s.reply != replySent || s.save != saveFailed {
		t.Errorf("an illegal move changed the state: %v %v %v %v", s.lookup, s.life, s.reply, s.save)
	}
}

// TestIllegalMoveIsLoggedInProduction: without strictStates an illegal
// move is logged (once) and leaves the state as it was; it never panics
// a request.
func TestIllegalMoveIsLoggedInProduction(t *testing.T) {
	var logs bytes.Buffer
	m, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	strictStates = false
	defer func() { strictStates = true }()
	s := &Session{m: m, reply: replySent}
	if msg := panics(func() { s.replyEnd(replyFailed) }); msg != "" {
		t.Fatalf("panicked in production: %s", msg)
	}
	if s.reply != replySent {
		t.Errorf("reply = %v after an illegal move, want it left at sent", s.reply)
	}
	if !strings.Contains(logs.String(), "reply sent -> failed") {
		t.Errorf("illegal move not logged: %q", logs.String())
	}
}

// TestInvalidateClearsTheChange: a session invalidated by the request has
// nothing left to save, and one created after it is new again.
func TestInvalidateClearsTheChange(t *testing.T) {
	s := &Session{}
	s.markChanged()
	s.lifeInvalidate()
	if s.use.has(flagChanged) {
		t.Error("changed still set after invalidation")
	}
	s.lifeCreate()
	if s.life != lifeCreated {
		t.Errorf("life = %v after a creation, want created", s.life)
	}
}

// TestCauseNamesThePackageOnce: an error of core wrapped into another
// reads "core:" once, and errors.Is still finds both.
func TestCauseNamesThePackageOnce(t *testing.T) {
	inner := errors.Join(errors.New("core: node n1: i/o timeout"), nodes.ErrDown)
	for _, e := range []error{
		wrapSave(inner),
		wrapSave(fmt.Errorf("%w: 3000000 bytes, max 1000000", ErrSessionTooLarge)),
		proceedUnlocked(errLockNodesDown),
		publicSaveError(ErrSessionTooLarge),
	} {
		if n := strings.Count(e.Error(), "core: "); n != 1 {
			t.Errorf("%q names the package %d times, want once", e.Error(), n)
		}
	}
	if !errors.Is(wrapSave(inner), ErrSaveFailed) || !errors.Is(wrapSave(inner), nodes.ErrDown) {
		t.Error("errors.Is does not see through cause")
	}
	if !errors.Is(proceedUnlocked(errLockNodesDown), ErrLockTimeout) || !errors.Is(publicSaveError(ErrSessionTooLarge), ErrSessionTooLarge) {
		t.Error("a sentinel is lost in the wrapping")
	}
	if cause(nil) != nil {
		t.Error("cause(nil) is not nil")
	}
}
