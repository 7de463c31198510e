// Package msmtest runs real memcached processes for tests of gomsm and of
// the applications that use it.
//
// [Start] launches one memcached on a free loopback port and stops it when
// the test ends; [StartN] launches several, for tests of node selection and
// failover. A [Server] can be killed, restarted empty on the same port, or
// paused so that it accepts connections but never answers, which is how a
// hung node looks to a client. One started with [Options.MemoryFile] can
// also be restarted warm ([Server.WarmRestart]): stopped with SIGUSR1 and
// started again with every item, as in a planned memcached restart.
// [Server.Stats] and [Server.Counters] read memcached's own counters, so a test can assert how many gets, sets or
// touches a request really cost, and [Proxy] records the bytes a client
// sends, so a test can check every key that reaches memcached.
//
// [Launch] starts the same memcached without a test, for load programs,
// demos and helpers that report errors themselves: its [Process] has the
// same controls, returning errors, and [ReadStats] reads the counters of
// any memcached. [Start] is a thin testing wrapper over it.
//
// Production links: [NewTestCA] makes a CA and a server certificate for a
// test, and [WithLink] turns Options into a memcached that speaks only TLS
// (-Z) and/or requires a login (-Y), with a readiness probe that connects
// as a client then must ([Link.DialContext]). [StartNutcracker] puts
// twemproxy in front of servers, for tests through a proxy tier. Any other
// server the default readiness probe cannot talk to gets its own with
// [Options.Ready].
//
// The memcached binary is looked up in PATH. When it is missing, [Start]
// skips the test, or fails it when the CI environment variable is set, so
// that a CI job never passes by skipping everything. Install it with
// "apt-get install -y memcached" or "brew install memcached".
//
// The package has no global state: servers and proxies started by parallel
// tests (t.Parallel) never share a port or a process. [Server] methods that
// can fail report to the test given to [Start] or [StartProxy] with
// t.Fatalf, so call them from that test's goroutine.
package msmtest
