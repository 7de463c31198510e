package main

import (
	"strconv"
	"time"

	"github.com/gomsm/msm/core/msmtest"
)

// mcOps counts memcached commands as memcached itself counts them. Every
// key of a get, gets, set, add, cas, touch, gat or delete is one operation;
// gomsm and the stores compared here send one key per command, so an
// operation is one round trip.
type mcOps struct {
	Get, Set, Touch, Delete uint64
	// CPU is the CPU time memcached used (rusage_user + rusage_system).
	CPU time.Duration
}

// Total is the number of operations.
func (o mcOps) Total() uint64 { return o.Get + o.Set + o.Touch + o.Delete }

func (o mcOps) sub(old mcOps) mcOps {
	return mcOps{Get: o.Get - old.Get, Set: o.Set - old.Set, Touch: o.Touch - old.Touch, Delete: o.Delete - old.Delete, CPU: o.CPU - old.CPU}
}

func (o mcOps) add(x mcOps) mcOps {
	return mcOps{Get: o.Get + x.Get, Set: o.Set + x.Set, Touch: o.Touch + x.Touch, Delete: o.Delete + x.Delete, CPU: o.CPU + x.CPU}
}

// readOps sums the operation counters of every server in addrs: cmd_get
// (get, gets), cmd_set (set, add, cas, ...), cmd_touch (touch, gat) and
// delete_hits + delete_misses.
func readOps(addrs []string) (mcOps, error) {
	var total mcOps
	for _, a := range addrs {
		st, err := msmtest.ReadStats(a)
		if err != nil {
			return mcOps{}, err
		}
		n := func(name string) uint64 {
			v, _ := strconv.ParseUint(st[name], 10, 64)
			return v
		}
		secs := func(name string) time.Duration {
			v, _ := strconv.ParseFloat(st[name], 64)
			return time.Duration(v * float64(time.Second))
		}
		total = total.add(mcOps{
			Get: n("cmd_get"), Set: n("cmd_set"), Touch: n("cmd_touch"),
			Delete: n("delete_hits") + n("delete_misses"),
			CPU:    secs("rusage_user") + secs("rusage_system"),
		})
	}
	return total, nil
}

// memcachedVersion returns the version memcached reports, "" if unknown.
func memcachedVersion(addr string) string {
	st, err := msmtest.ReadStats(addr)
	if err != nil {
		return ""
	}
	return st["version"]
}
