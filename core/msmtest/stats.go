package msmtest

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// requestTimeout bounds ReadStats, Stats, Stat, Counters and Flush, so
// that a test of a paused server fails instead of hanging.
const requestTimeout = 5 * time.Second

// Stats returns the output of memcached's "stats" command, name to value,
// read over a fresh TCP connection. It fails the test if memcached does not
// answer within 5 s, for example because it is killed or paused.
//
// memcached updates its counters before it replies, so Stats sees every
// command whose reply a client has received.
func (s *Server) Stats() map[string]string {
	s.t.Helper()
	stats, err := fetchStats(s.Addr(), requestTimeout)
	if err != nil {
		s.t.Fatalf("msmtest: stats from %s: %v", s.Addr(), err)
	}
	return stats
}

// Stat returns one numeric counter from [Server.Stats], such as "cmd_get",
// "cmd_set", "cmd_touch", "get_hits", "curr_items", "delete_hits" or
// "cmd_flush". It fails the test if the counter is missing or not a whole
// number. The memcached protocol documentation (protocol.txt, "General-
// purpose statistics") lists them all.
func (s *Server) Stat(name string) uint64 {
	s.t.Helper()
	n, err := statUint(s.Stats(), name)
	if err != nil {
		s.t.Fatalf("msmtest: stats from %s: %v", s.Addr(), err)
	}
	return n
}

// Counters is a snapshot of the memcached counters that tests usually
// check, from one "stats" command. Take one before and one after the code
// under test and compare them with [Counters.Sub].
//
// memcached 1.6 counts storage commands only as a whole: there is no
// counter for add, replace, append or prepend alone, so Counters has none
// either. To tell an add from a set, record the commands with a [Proxy].
type Counters struct {
	// Get is cmd_get: the keys looked up by get, gets and mg. It counts
	// keys, not commands: "get a b c" adds 3. gat and gats count in Touch,
	// not here.
	Get uint64
	// Set is cmd_set: the storage commands received (set, add, replace,
	// append, prepend, cas and the meta ms), whether they stored the item
	// or not. incr and decr do not count.
	Set uint64
	// Touch is cmd_touch: the keys touched by touch, gat and gats; like
	// Get, gat counts each key.
	Touch uint64
	// Delete is delete_hits + delete_misses: the delete and md commands.
	Delete uint64
	// CAS is cas_hits + cas_misses + cas_badval: the cas commands, which
	// also count in Set.
	CAS uint64
	// GetHits is get_hits: the keys in Get that were found.
	GetHits uint64
	// GetMisses is get_misses: the keys in Get that were not found,
	// including expired and flushed ones.
	GetMisses uint64
	// CurrItems is curr_items: the items stored now. Unlike the others it
	// can go down. After flush_all it does not drop at once: memcached
	// removes flushed items lazily, when they are read or reclaimed.
	CurrItems uint64
	// TotalItems is total_items: the storage commands that stored an item
	// since memcached started. Failed adds, replaces and cas do not count,
	// nor do incr and decr.
	TotalItems uint64
}

// Counters returns a snapshot of the usual counters. It fails the test
// like [Server.Stats].
func (s *Server) Counters() Counters {
	s.t.Helper()
	stats := s.Stats()
	var c Counters
	var err error
	get := func(names ...string) uint64 {
		var sum uint64
		for _, name := range names {
			n, e := statUint(stats, name)
			if e != nil && err == nil {
				err = e
			}
			sum += n
		}
		return sum
	}
	c.Get = get("cmd_get")
	c.Set = get("cmd_set")
	c.Touch = get("cmd_touch")
	c.Delete = get("delete_hits", "delete_misses")
	c.CAS = get("cas_hits", "cas_misses", "cas_badval")
	c.GetHits = get("get_hits")
	c.GetMisses = get("get_misses")
	c.CurrItems = get("curr_items")
	c.TotalItems = get("total_items")
	if err != nil {
		s.t.Fatalf("msmtest: stats from %s: %v", s.Addr(), err)
	}
	return c
}

// Sub returns c - old, field by field: what happened between two
// snapshots. CurrItems wraps around when items were removed;
// int64(d.CurrItems) is then the signed change.
func (c Counters) Sub(old Counters) Counters {
	return Counters{
		Get:        c.Get - old.Get,
		Set:        c.Set - old.Set,
		Touch:      c.Touch - old.Touch,
		Delete:     c.Delete - old.Delete,
		CAS:        c.CAS - old.CAS,
		GetHits:    c.GetHits - old.GetHits,
		GetMisses:  c.GetMisses - old.GetMisses,
		CurrItems:  c.CurrItems - old.CurrItems,
		TotalItems: c.TotalItems - old.TotalItems,
	}
}

// Flush sends flush_all, which invalidates every item. It fails the test
// if memcached does not answer OK within 5 s.
func (s *Server) Flush() {
	s.t.Helper()
	err := roundTrip(s.Addr(), requestTimeout, "flush_all\r\n", func(r *bufio.Reader) error {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if line != "OK" {
			return fmt.Errorf("flush_all: unexpected reply %q", line)
		}
		return nil
	})
	if err != nil {
		s.t.Fatalf("msmtest: flush %s: %v", s.Addr(), err)
	}
}

// ReadStats returns the output of memcached's "stats" command on addr,
// name to value, read over a fresh TCP connection within 5 s. It works on
// any memcached, not only one this package started; use it where no test
// is at hand to fail (a test calls [Server.Stats]).
func ReadStats(addr string) (map[string]string, error) {
	stats, err := fetchStats(addr, requestTimeout)
	if err != nil {
		return nil, fmt.Errorf("msmtest: stats from %s: %w", addr, err)
	}
	return stats, nil
}

// fetchStats runs "stats" on a fresh connection to addr.
func fetchStats(addr string, timeout time.Duration) (map[string]string, error) {
	stats := map[string]string{}
	err := roundTrip(addr, timeout, "stats\r\n", func(r *bufio.Reader) error {
		for {
			line, err := readLine(r)
			if err != nil {
				return err
			}
			if line == "END" {
				return nil
			}
			rest, ok := strings.CutPrefix(line, "STAT ")
			if !ok {
				return fmt.Errorf("stats: unexpected reply %q", line)
			}
			name, value, _ := strings.Cut(rest, " ")
			stats[name] = value
		}
	})
	if err != nil {
		return nil, err
	}
	return stats, nil
}

// roundTrip dials addr, sends req and lets read parse the reply, all within
// timeout.
func roundTrip(addr string, timeout time.Duration, req string, read func(*bufio.Reader) error) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	return read(bufio.NewReader(conn))
}

// readLine reads one reply line without its "\r\n".
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// statUint parses the named counter.
func statUint(stats map[string]string, name string) (uint64, error) {
	v, ok := stats[name]
	if !ok {
		return 0, fmt.Errorf("no stat %q", name)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat %s = %q is not a whole number", name, v)
	}
	return n, nil
}
