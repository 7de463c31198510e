// Package chaos holds gomsm's chaos test: two memcached nodes and two gomsm
// instances (separate processes, built from ./server) behind a load
// balancer, users sending sequential increments of a session counter, and
// faults injected while they do: a memcached node killed (kill -9), a
// memcached node stalled (SIGSTOP 400 ms every 2 s), an instance killed
// (kill -9). It counts errors, lost sessions and lost acknowledged updates
// per scenario and mode, and fails on a loss the mode promises not to have.
//
// The package has no code of its own: everything is in chaos_test.go. Run
// the short form (one 5 s run of each scenario and mode, as CI does) with
//
//	go test -v -run TestChaos ./chaos/
//
// and the long form (five runs of each, 10 s each) with make chaos. See
// docs/failover.md for what is counted and how.
package chaos
