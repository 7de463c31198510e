// Command bench measures gomsm against the session managers Go teams use
// today, in one run on one machine, where only ratios measured side by
// side count.
//
// The load comparison (the default) starts memcached, runs every system
// under test as a real HTTP server on loopback, and lets virtual users,
// each with its own cookie jar and session, send a mix of reads and
// writes, in rounds interleaved across the systems:
//
//	go run ./bench                      # from the repository root
//	go run ./bench -writes 0 -out bench/results/readonly.md
//
// The memory check creates local sessions of about 1 KB through the
// middleware and reports RSS and Go heap:
//
//	go run ./bench -mem
//
// docs/performance.md explains every number.
package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/gomsm/msm/core/msmtest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run parses the flags and runs the chosen check. It is long because it
// is the flag list (one line per flag) and their validation, flat: over
// 50 lines that read best as one list.
func run() error {
	var (
		users     = flag.Int("users", 50, "virtual users per system (1-1000)")
		writes    = flag.Float64("writes", 10, "percentage of requests that write (0-100)")
		rounds    = flag.Int("rounds", 3, "rounds of every system, interleaved (1-20)")
		duration  = flag.Duration("duration", 3*time.Second, "duration of one round of one system (at most 60s)")
		systems   = flag.String("systems", strings.Join(allSlugs, ","), "systems under test, in table order")
		out       = flag.String("out", "", "file for the markdown report (default bench/results/latest.md, or bench/results/mem.md with -mem)")
		probe     = flag.Int("probe", 500, "reads and writes of the sequential one-user probe (0: none)")
		nodes     = flag.Int("nodes", 1, "memcached servers (1-4); gomsm uses them all as n1, n2...; gin-contrib shards over them")
		inprocess = flag.Bool("inprocess", false, "run the servers in this process rather than in a server process")
		cpuprof   = flag.String("cpuprofile", "", "directory for a CPU profile of the server process per system and round (<slug>-r<round>.pprof)")
		mem       = flag.Bool("mem", false, "run the memory check instead of the load comparison")
		memN      = flag.Int("mem-sessions", 1_000_000, "memory check: sessions to create (at most 2000000)")
		memBound  = flag.Int("mem-bound", 100_000, "memory check: MaxLocalSessions of the bounded run")
		memBackup = flag.Bool("mem-backup", true, "memory check: also run with a memcached backup (sticky, async)")
		memScens  = flag.String("mem-scenarios", "local,bounded,backup", "memory check: scenarios to run (also: packed, packed-backup, flood, flood-unbounded)")
		memProf   = flag.String("memprofile", "", "memory check: directory for a heap profile of each scenario at its end (<scenario>.heap)")
		memRunF   = flag.String("mem-run", "", "internal: be the process of one memory check scenario")
		serve     = flag.Bool("serve", false, "internal: be the server process of a load run")
		mcAddrs   = flag.String("mc", "", "internal: memcached addresses of the server process")
	)
	flag.Parse()
	slugs := splitList(*systems)
	if *serve {
		return serveChild(slugs, splitList(*mcAddrs))
	}
	if *memRunF != "" {
		return memRun(*memRunF, *memN, *memBound, *mcAddrs, *memProf)
	}
	command := "go run ./bench"
	if len(os.Args) > 1 {
		command += " " + strings.Join(os.Args[1:], " ")
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	if *mem {
		if *memN < 1 || *memN > 2_000_000 || *memBound < 0 {
			return errors.New("-mem-sessions must be 1-2000000, -mem-bound >= 0")
		}
		if *memProf != "" {
			if err := os.MkdirAll(*memProf, 0o755); err != nil {
				return err
			}
			abs, err := filepath.Abs(*memProf)
			if err != nil {
				return err
			}
			*memProf = abs
		}
		md, err := memCheck(memConfig{scenarios: splitList(*memScens), sessions: *memN, bound: *memBound, backup: *memBackup, profileDir: *memProf, logf: logf})
		if err != nil {
			return err
		}
		return emit(md, *out, "mem.md", command)
	}
	switch {
	case *users < 1 || *users > 1000:
		return errors.New("-users must be 1-1000")
	case *writes < 0 || *writes > 100:
		return errors.New("-writes must be 0-100")
	case *rounds < 1 || *rounds > 20:
		return errors.New("-rounds must be 1-20")
	case *duration <= 0 || *duration > time.Minute:
		return errors.New("-duration must be >0 and at most 60s")
	case *nodes < 1 || *nodes > 4:
		return errors.New("-nodes must be 1-4")
	case *probe < 0 || *probe > 10000:
		return errors.New("-probe must be 0-10000")
	}
	for _, s := range slugs {
		if !slices.Contains(allSlugs, s) {
			return fmt.Errorf("unknown system %q (known: %s)", s, strings.Join(allSlugs, ", "))
		}
	}
	if *cpuprof != "" {
		if err := os.MkdirAll(*cpuprof, 0o755); err != nil {
			return err
		}
		abs, err := filepath.Abs(*cpuprof)
		if err != nil {
			return err
		}
		*cpuprof = abs
	}

	var mcs []*msmtest.Process
	defer func() {
		for _, p := range mcs {
			p.Stop()
		}
	}()
	var addrs []string
	for range *nodes {
		p, err := msmtest.Launch(msmtest.Options{MemoryMB: 256})
		if err != nil {
			return err
		}
		mcs = append(mcs, p)
		addrs = append(addrs, p.Addr())
	}
	var side serverSide
	if *inprocess {
		l, err := listen(slugs, addrs)
		if err != nil {
			return err
		}
		side = l
	} else {
		c, err := startChild(slugs, addrs)
		if err != nil {
			return err
		}
		side = c
	}
	defer side.close()
	// ^C stops memcached and the server process too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		side.close()
		for _, p := range mcs {
			p.Stop()
		}
		os.Exit(130)
	}()

	cfg := loadConfig{
		users: *users, writes: *writes / 100, rounds: *rounds, duration: *duration,
		probe: *probe, mc: addrs, cpuprof: *cpuprof, logf: logf,
	}
	info := runInfo{command: command, cfg: cfg, inprocess: *inprocess, memcached: memcachedVersion(addrs[0]), started: time.Now()}
	logf("load: %d systems x %d rounds x %v, %d users each", len(slugs), *rounds, *duration, *users)
	results, err := runLoad(side, cfg)
	if err != nil {
		return err
	}
	return emit(report(info, results), *out, "latest.md", command)
}

// emit prints the report and writes it to out (or the default file name in
// bench/results).
func emit(md, out, name, command string) error {
	fmt.Print(md)
	if out == "" {
		out = filepath.Join(resultsDir(), name)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "written to %s\n", out)
	return nil
}

// resultsDir is bench/results of the repository, whether the program runs
// from the repository root or from bench/.
func resultsDir() string {
	if b, err := os.ReadFile("go.mod"); err == nil && strings.Contains(string(b), "module github.com/gomsm/msm/bench") {
		return "results"
	}
	return filepath.Join("bench", "results")
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
