package core

import "github.com/gomsm/msm/core/internal/nodes"

// mode is what differs between sticky and non-sticky mode: the one seam
// between the request cycle (middleware.go) and the Manager's bookkeeping
// on one side and the two ways of keeping a session on the other. New
// picks the mode once (stickyMode in sticky.go, *nonSticky in
// nonsticky.go); nothing else asks which mode it is in.
//
// The methods named after a step of the request cycle are called with
// s.mu held, except beforeHandler, which takes it.
type mode interface {
	// beforeHandler runs before the handler. A non-nil error answers the
	// request with a 503 with its text, and the handler does not run
	// (non-sticky mode: the lock or the load failed).
	beforeHandler(s *Session) error
	// resolve finds the session the client named (s.incoming, not
	// empty): it sets s.d and ends the lookup (lookedUp,
	// lookupUnavailable or lookupReject, state.go).
	resolve(s *Session)
	// beforeFirstByte runs once, before the response's headers go out;
	// a failure sets s.failErr, which turns the response into a 503.
	beforeFirstByte(s *Session)
	// finish saves at the end of a request that returned normally. rw is
	// for a mode that must still act before the headers go out.
	finish(s *Session, rw *responseWriter)
	// abandon ends a request whose handler panicked: nothing is saved.
	abandon(s *Session)

	// created takes in a session just created by a request.
	created(d *sessionData)
	// renamed follows d to its new base (RenewID).
	renamed(d *sessionData, oldBase string)
	// detach forgets d as the session of base in use on this instance
	// (invalidated, renamed, or holding a change that was not stored).
	detach(base string, d *sessionData)
	// lookupActive returns the session of base that requests on this instance
	// use now, nil if none (beyond the local store).
	lookupActive(base string) *sessionData
	// copyNode returns the node that holds the second copy of a session
	// whose primary is n, and where the session goes when n fails; nil
	// when the mode keeps no second copy.
	copyNode(n *nodes.Node) *nodes.Node
	// storeOfRecord reports whether memcached is the only store of the
	// sessions (then it cannot be switched off).
	storeOfRecord() bool
	// start starts the mode's background work (stopped by Close through
	// m.stop and m.sweeperWG).
	start()
}
