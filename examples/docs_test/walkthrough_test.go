package docstest_test

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomsm/msm/examples/internal/proctest"
)

// TestReadmeWalkThrough runs README.md's two-instance walk-through as
// written, from the repository's root: the first shell block (memcached
// and two apps in the background), then each line of the second (the curl
// commands), checking every answer. Only the ports change, to free ones,
// and the cookie jar goes to a temporary directory.
func TestReadmeWalkThrough(t *testing.T) {
	for _, tool := range []string{"memcached", "curl", "bash"} {
		proctest.Need(t, tool)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme := readFile(t, filepath.Join(root, "README.md"))
	blocks := codeBlocks(section(t, readme, "## Framework adapters and example apps"), "sh")
	if len(blocks) != 2 {
		t.Fatalf("README.md \"Framework adapters and example apps\": want 2 sh blocks (start, curl), found %d", len(blocks))
	}
	t.Run("non-sticky, as written", func(t *testing.T) {
		want := [][]string{
			{`"apple":1`},
			{`"apple":1`, `"fig":1`},
			{`"apple":1`, `"fig":1`},
			{`"user":"ann"`, `"apple":1`, `"fig":1`},
			{`"items":{}`, `"user":"ann"`},
			{"logged out"},
		}
		lines := curlLines(blocks[1])
		if len(lines) != len(want) {
			t.Fatalf("README.md's curl block has %d commands, this test checks %d: update both", len(lines), len(want))
		}
		out := walkThrough(t, root, blocks[0], lines)
		for i, line := range lines {
			for _, w := range want[i] {
				if !strings.Contains(out[i], w) {
					t.Errorf("%s\nanswered %s\nwant %s", line, out[i], w)
				}
			}
		}
	})
	// README says what happens without MSM_NON_STICKY=true: the gin
	// instance serves its own copy, without the fig.
	t.Run("sticky, without a sticky balancer", func(t *testing.T) {
		if !strings.Contains(blocks[0], " MSM_NON_STICKY=true") {
			t.Fatal("the walk-through no longer sets MSM_NON_STICKY=true: update this test")
		}
		lines := curlLines(blocks[1])[:3]
		out := walkThrough(t, root, strings.ReplaceAll(blocks[0], " MSM_NON_STICKY=true", ""), lines)
		if !strings.Contains(out[2], `"apple":1`) || strings.Contains(out[2], `"fig"`) {
			t.Errorf("sticky mode, %s answered %s: README says the fig is lost there", lines[2], out[2])
		}
	})
}

// curlLines returns the commands of a shell block, one per line.
func curlLines(block string) []string {
	var lines []string
	for line := range strings.Lines(block) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

// walkThrough runs start (README's first block) in the background and then
// each of lines, from the repository's root, on free ports and with the
// cookie jar in a temporary directory, and returns what each line printed.
// The background processes are killed when the test ends.
func walkThrough(t *testing.T, root, start string, lines []string) []string {
	t.Helper()
	jar := filepath.Join(t.TempDir(), "jar")
	mc, gin, chi := freePort(t), freePort(t), freePort(t)
	subst := strings.NewReplacer(
		"11211", strconv.Itoa(mc),
		"localhost:8080", "localhost:"+strconv.Itoa(gin),
		"localhost:8081", "localhost:"+strconv.Itoa(chi),
		"-c jar -b jar", "-c "+jar+" -b "+jar,
	)

	// The first block, in a process group of its own that the cleanup
	// kills (go run's children included).
	var mu sync.Mutex
	var logs bytes.Buffer
	cmd := exec.Command("bash", "-c", subst.Replace(start)+"wait\n")
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = lockedWriter{&mu, &logs}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Ctrl-C, as README says: go run ignores it and waits for its
		// app, which stops gracefully; then go run removes its build.
		// (memcached, started with & by a script, ignores Ctrl-C: SIGTERM.)
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGINT)
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if !listening(gin) && !listening(chi) {
				break
			}
		}
		syscall.Kill(-pgid, syscall.SIGTERM) // memcached and the shell
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
	})
	output := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	for _, port := range []int{mc, gin, chi} {
		// go run compiles first: a generous deadline.
		deadline := time.Now().Add(3 * time.Minute)
		for {
			c, err := net.Dial("tcp", "localhost:"+strconv.Itoa(port))
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nothing listens on port %d after 3 minutes:\n%s", port, output())
			}
			time.Sleep(50 * time.Millisecond) // poll interval, not an assertion
		}
	}

	var outs []string
	for _, line := range lines {
		cmd := exec.Command("bash", "-c", subst.Replace(line))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", line, err, out, output())
		}
		outs = append(outs, string(out))
	}
	return outs
}

// listening reports whether something accepts connections on the
// loopback port.
func listening(port int) bool {
	c, err := net.Dial("tcp", "localhost:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// freePort returns a TCP port on loopback that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
