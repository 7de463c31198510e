package msmtest

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WarmRestart restarts memcached the way a planned restart keeps every
// item: it sends SIGUSR1, on which memcached (1.5.18 and later) writes the
// metadata of its memory file and exits, then starts the same command line
// again, which maps the file back with every item and its expiry. It needs
// [Options.MemoryFile], and returns once the new process is ready.
// (Restart, by contrast, kills and starts empty.)
func (p *Process) WarmRestart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.args, "-e") {
		return errors.New("msmtest: warm restart needs Options.MemoryFile")
	}
	if err := p.signalLocked("warm restart", warmSignal); err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(readyTimeout):
		return fmt.Errorf("msmtest: memcached on %s did not exit within %v of SIGUSR1", p.Addr(), readyTimeout)
	}
	p.cmd, p.done = nil, nil
	waitPastStopTime(p.args[slices.Index(p.args, "-e")+1])
	deadline := time.Now().Add(readyTimeout)
	for {
		err := p.start()
		if err == nil {
			return nil
		}
		if !errors.Is(err, errPortBusy) || time.Now().After(deadline) {
			return fmt.Errorf("msmtest: warm restart of memcached on %s: %w", p.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond) // the port's previous owner is going away
	}
}

// waitPastStopTime waits until the wall clock has passed the stop time
// memcached saved in the memory file's metadata. memcached's own clock runs
// up to two seconds ahead of the wall clock, and a process started before
// the saved stop time refuses the file ("restart incompatible due to
// setting for [stop_time]") and starts empty.
func waitPastStopTime(memoryFile string) {
	meta, err := os.ReadFile(memoryFile + ".meta")
	if err != nil {
		return // memcached reports it on start
	}
	for _, line := range strings.Split(string(meta), "\n") {
		if v, ok := strings.CutPrefix(line, "Kstop_time "); ok {
			stop, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return
			}
			if wait := time.Until(time.Unix(stop+1, 0)); wait > 0 && wait < 10*time.Second {
				time.Sleep(wait) // memcached's rule, not a test's guess
			}
			return
		}
	}
}
