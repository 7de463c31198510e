package core_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// probeLog is a log destination safe for the probe's goroutine.
type probeLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *probeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *probeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startupLine waits (at most 20 s) for the probe's log line and returns it.
func startupLine(t *testing.T, logs *probeLog) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "memcached at startup") {
				return line
			}
		}
	}
	t.Fatalf("no startup probe line in the log after 20s:\n%s", logs)
	return ""
}

// TestStartupProbe: New asks every node once and logs which are up and
// which are down, with the reason.
func TestStartupProbe(t *testing.T) {
	up := msmtest.Start(t)
	down := msmtest.Start(t)
	down.Kill() // connections refused
	logs := &probeLog{}
	m, err := core.New(core.Config{
		Nodes:            "n1:" + up.Addr() + ",n2:" + down.Addr(),
		OperationTimeout: 5 * time.Second,
		Logger:           slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	line := startupLine(t, logs)
	for _, want := range []string{"level=WARN", `up="n1 ` + up.Addr() + `"`, `down="n2 ` + down.Addr() + ` (`, "refused"} {
		if !strings.Contains(line, want) {
			t.Errorf("startup line %q lacks %q", line, want)
		}
	}
}

// TestStartupProbeDoesNotBlockNew: with a node that accepts connections
// but does not answer (SIGSTOP), New returns before the probe ends; the
// probe reports once the node answers again.
func TestStartupProbeDoesNotBlockNew(t *testing.T) {
	mc := msmtest.Start(t)
	mc.Pause()
	logs := &probeLog{}
	m, err := core.New(core.Config{
		Nodes:            "n1:" + mc.Addr(),
		OperationTimeout: 20 * time.Second, // longer than the test waits: only the Resume ends the probe
		Logger:           slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if strings.Contains(logs.String(), "memcached at startup") {
		t.Fatal("the probe of a paused node ended before New returned")
	}
	mc.Resume()
	line := startupLine(t, logs)
	if !strings.Contains(line, "level=INFO") || !strings.Contains(line, `up="n1 `+mc.Addr()+`"`) {
		t.Errorf("startup line %q: want every node up", line)
	}
}
