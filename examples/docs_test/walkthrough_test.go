package docstest_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestReadmeWalkThrough runs README.md's two-instance walk-through as
// written, from the repository's root: the first shell block (memcached
// and two apps in the background), then each line of the second (the curl
// commands), checking every answer. Only the ports change, to free ones,
// and the cookie jar goes to a temporary directory.
func TestReadmeWalkThrough(t *testing.T) {
	for _, tool := range []string{"memcached", "curl", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not in PATH (CI=true: install it)", tool)
			}
			t.Skipf("%s is not in PATH", tool)
		}
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
	jar := filepath.Join(t.TempDir(), "jar")
	gin, chi := freePort(t), freePort(t)
	subst := strings.NewReplacer(
		"11211", strconv.Itoa(freePort(t)),
		"localhost:8080", "localhost:"+strconv.Itoa(gin),
		"localhost:8081", "localhost:"+strconv.Itoa(chi),
		"-c jar -b jar", "-c "+jar+" -b "+jar,
	)

	// The first block, in a process group of its own that the cleanup
	// kills (go run's children included).
	var mu sync.Mutex
	var logs bytes.Buffer
	start := exec.Command("bash", "-c", subst.Replace(blocks[0])+"wait\n")
	start.Dir = root
	start.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start.Stdout = lockedWriter{&mu, &logs}
	start.Stderr = start.Stdout
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-start.Process.Pid, syscall.SIGKILL)
		start.Wait()
	})
	output := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	for _, port := range []int{gin, chi} {
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

	// Each curl line and what its answer must hold.
	want := [][]string{
		{`"apple":1`},
		{`"apple":1`, `"fig":1`},
		{`"apple":1`, `"fig":1`},
		{`"user":"ann"`, `"apple":1`, `"fig":1`},
		{`"items":{}`, `"user":"ann"`},
		{"logged out"},
	}
	var lines []string
	for line := range strings.Lines(blocks[1]) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("README.md's curl block has %d commands, this test checks %d: update both", len(lines), len(want))
	}
	for i, line := range lines {
		cmd := exec.Command("bash", "-c", subst.Replace(line))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", line, err, out, output())
		}
		for _, w := range want[i] {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s\nanswered %s\nwant %s", line, out, w)
			}
		}
	}
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
