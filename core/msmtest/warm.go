package msmtest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A warm restart keeps memcached's items across a restart: memcached
// started with a memory file (-e) keeps its items in that file; SIGUSR1
// makes it stop gracefully and write what it needs to find them again
// next to it (the file plus ".meta"); the next start with the same file
// and the same memory settings (-m, -I, slab options) restores every
// item. memcached 1.6 refuses to restore in the second it stopped (it
// takes "no time has passed" for a clock gone wrong) and then starts
// empty, saying so only on stderr: WarmRestart waits for the clock to
// move on and checks the log.

// WarmRestart stops memcached gracefully (SIGUSR1), waits until it has
// exited, and starts it again on the same port with the same flags and
// memory file, with every item it held, then waits until it is ready. It
// fails if the process was not started with [Options.MemoryFile] (or -e
// in ExtraArgs), if it is killed or stopped, or if memcached started empty
// anyway (its log says why). Clients see the node refuse connections
// from the signal until the new process listens: about a second, since
// memcached only restores items once the clock has passed the second it
// stopped in.
func (p *Process) WarmRestart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	file := memoryFileOf(p.args)
	switch {
	case p.stopped:
		return fmt.Errorf("msmtest: warm restart of memcached on %s: it was stopped", p.Addr())
	case file == "":
		return fmt.Errorf("msmtest: warm restart of memcached on %s: it has no memory file: start it with Options.MemoryFile set, such as filepath.Join(t.TempDir(), \"memory\")", p.Addr())
	}
	if err := p.signalLocked("warm restart", gracefulSignal); err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(readyTimeout):
		p.killLocked()
		return fmt.Errorf("msmtest: warm restart of memcached on %s: it did not exit within %v of SIGUSR1", p.Addr(), readyTimeout)
	}
	p.cmd, p.done = nil, nil
	stopped, err := stopTime(file + ".meta")
	if err != nil {
		return fmt.Errorf("msmtest: warm restart of memcached on %s: it exited without its metadata: %w", p.Addr(), err)
	}
	for time.Now().Unix() <= stopped {
		time.Sleep(20 * time.Millisecond) // until the clock is past the stop's second
	}
	logStart := int64(len(p.Log()))
	if err := p.startAgainLocked("warm restart"); err != nil {
		return err
	}
	if out := p.logSince(logStart); strings.Contains(out, "starting with a clean cache") {
		return fmt.Errorf("msmtest: warm restart of memcached on %s: it started empty:\n%s", p.Addr(), out)
	}
	return nil
}

// WarmRestart restarts memcached with every item it held, as
// [Process.WarmRestart] does, and fails the test if it cannot. The server
// must have been started with [Options.MemoryFile].
func (s *Server) WarmRestart() {
	s.t.Helper()
	if err := s.p.WarmRestart(); err != nil {
		s.t.Fatalf("%v", err)
	}
}

// memoryFileOf returns the memory file that memcached flags give (-e FILE
// or --memory-file=FILE; the last one wins, as in memcached), "" for none.
func memoryFileOf(args []string) string {
	file := ""
	for i, a := range args {
		switch {
		case (a == "-e" || a == "--memory-file") && i+1 < len(args):
			file = args[i+1]
		case strings.HasPrefix(a, "--memory-file="):
			file = strings.TrimPrefix(a, "--memory-file=")
		case strings.HasPrefix(a, "-e") && len(a) > 2:
			file = a[2:]
		}
	}
	return file
}

// stopTime reads, from memcached's metadata file, the Unix second at
// which memcached stopped (its "stop_time" line).
func stopTime(metaPath string) (int64, error) {
	f, err := os.Open(metaPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Kstop_time "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no stop_time line", metaPath)
}
