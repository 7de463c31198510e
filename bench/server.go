package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gomsm/msm/core"
)

// The systems under test run in a server process of their own (the load
// program starts itself with -serve), so that the allocations, the memory
// and a CPU profile measured there are the server's alone, not those of
// the virtual users' HTTP clients. With -inprocess (and in the tests) they
// run in the load program's process instead.

// target is a system under test as the virtual users see it.
type target struct {
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Sessions bool   `json:"sessions"`
	URL      string `json:"url"`
}

// serverSnap is what the server process reports between rounds.
type serverSnap struct {
	Mallocs   uint64 `json:"mallocs"`    // runtime.MemStats.Mallocs
	HeapInuse uint64 `json:"heap_inuse"` // bytes
	RSS       uint64 `json:"rss"`        // bytes, VmRSS
	// CPU is the CPU time the process has used (user + system).
	CPU time.Duration `json:"cpu"`
	// BackupQueueDelay is the system's core.Stats.BackupQueueDelay
	// (gomsm only; cumulative since the system started).
	BackupQueueDelay core.Histogram `json:"backup_queue_delay"`
}

// serverSide runs the systems under test.
type serverSide interface {
	targets() []target
	// snapshot waits until system slug's background work is done, then
	// reads the process's counters.
	snapshot(slug string) (serverSnap, error)
	startProfile(path string) error
	stopProfile() error
	close()
}

// listening is the systems of this process, each on its own HTTP server.
type listening struct {
	systems map[string]*system
	tgts    []target
	servers []*http.Server
	mu      sync.Mutex
	prof    *os.File
}

// listen builds the systems in slugs and serves each on 127.0.0.1.
func listen(slugs []string, mc []string) (*listening, error) {
	l := &listening{systems: map[string]*system{}}
	for _, slug := range slugs {
		sys, err := buildSystem(slug, mc)
		if err != nil {
			l.close()
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			sys.close()
			l.close()
			return nil, err
		}
		srv := &http.Server{Handler: sys.handler, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		l.systems[slug] = sys
		l.servers = append(l.servers, srv)
		l.tgts = append(l.tgts, target{Slug: slug, Name: sys.name, Sessions: sys.sessions, URL: "http://" + ln.Addr().String()})
	}
	return l, nil
}

func (l *listening) targets() []target { return l.tgts }

func (l *listening) snapshot(slug string) (serverSnap, error) {
	var delay core.Histogram
	if sys := l.systems[slug]; sys != nil {
		sys.quiesce()
		if sys.manager != nil {
			delay = sys.manager.Stats().BackupQueueDelay
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return serverSnap{Mallocs: ms.Mallocs, HeapInuse: ms.HeapInuse, RSS: readRSS(), CPU: processCPU(), BackupQueueDelay: delay}, nil
}

func (l *listening) startProfile(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prof != nil {
		return errors.New("a CPU profile is already running")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	l.prof = f
	return nil
}

func (l *listening) stopProfile() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prof == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := l.prof.Close()
	l.prof = nil
	return err
}

func (l *listening) close() {
	l.stopProfile()
	for _, srv := range l.servers {
		srv.Close()
	}
	for _, sys := range l.systems {
		sys.close()
	}
}

// serveChild is the server process: it serves the systems, prints one JSON
// line (the control URL and the targets) and runs until its standard input
// closes, which happens when the load program exits, however it exits.
func serveChild(slugs, mc []string) error {
	l, err := listen(slugs, mc)
	if err != nil {
		return err
	}
	defer l.close()
	ctl := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(v)
	}
	ctl.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) {
		snap, err := l.snapshot(r.URL.Query().Get("sys"))
		reply(w, snap, err)
	})
	ctl.HandleFunc("POST /profile/start", func(w http.ResponseWriter, r *http.Request) {
		reply(w, "ok", l.startProfile(r.URL.Query().Get("path")))
	})
	ctl.HandleFunc("POST /profile/stop", func(w http.ResponseWriter, r *http.Request) {
		reply(w, "ok", l.stopProfile())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctlSrv := &http.Server{Handler: ctl, ReadHeaderTimeout: 10 * time.Second}
	go ctlSrv.Serve(ln)
	defer ctlSrv.Close()
	hello, err := json.Marshal(struct {
		Control string   `json:"control"`
		Targets []target `json:"targets"`
	}{"http://" + ln.Addr().String(), l.targets()})
	if err != nil {
		return err
	}
	fmt.Println(string(hello))
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// childSide is the load program's handle on the server process.
type childSide struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	control string
	tgts    []target
	client  *http.Client
}

// startChild starts this program again with -serve and waits for its
// targets.
func startChild(slugs, mc []string) (*childSide, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", "-systems", strings.Join(slugs, ","), "-mc", strings.Join(mc, ","))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childSide{cmd: cmd, stdin: stdin, client: &http.Client{Timeout: time.Minute}}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		c.close()
		return nil, fmt.Errorf("server process: %w", err)
	}
	var hello struct {
		Control string   `json:"control"`
		Targets []target `json:"targets"`
	}
	if err := json.Unmarshal(line, &hello); err != nil {
		c.close()
		return nil, fmt.Errorf("server process said %q: %w", line, err)
	}
	c.control, c.tgts = hello.Control, hello.Targets
	return c, nil
}

func (c *childSide) targets() []target { return c.tgts }

func (c *childSide) call(method, path string, out any) error {
	req, err := http.NewRequest(method, c.control+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("server process: %s %s: %s", method, path, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *childSide) snapshot(slug string) (serverSnap, error) {
	var snap serverSnap
	err := c.call("GET", "/snapshot?sys="+url.QueryEscape(slug), &snap)
	return snap, err
}

func (c *childSide) startProfile(path string) error {
	return c.call("POST", "/profile/start?path="+url.QueryEscape(path), nil)
}

func (c *childSide) stopProfile() error { return c.call("POST", "/profile/stop", nil) }

// close ends the server process: its standard input closes, it stops.
func (c *childSide) close() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readRSS returns this process's resident set size (VmRSS), 0 if unknown.
func readRSS() uint64 { return procStatus("VmRSS") }

// readHWM returns this process's peak resident set size (VmHWM).
func readHWM() uint64 { return procStatus("VmHWM") }

// procStatus returns a "kB" field of /proc/self/status in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
