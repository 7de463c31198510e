package docstest_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shellBlocks says, for each section of README.md and docs/ that holds
// shell blocks, how many it holds and what runs them (or why nothing can).
// A new shell block fails TestEveryShellBlockIsRun until it is added here
// with its test.
var shellBlocks = map[string]struct {
	blocks int
	how    string
}{
	"README.md # gomsm":                                {1, "make demo and make test: run by .ci/run (checked below)"},
	"README.md ## Install":                             {1, "TestInstallAsReadmeSays"},
	"README.md ## Framework adapters and example apps": {2, "TestReadmeWalkThrough"},
	"README.md ## Commands":                            {1, "make demo, make test: .ci/run; go run ./examples/nethttp: TestExamplesStopGracefully runs that app; make chaos and make stress-test: the long forms (minutes) of what make test runs short (chaos-short, the suite), not run again by a test"},
	"docs/failover.md ## The chaos test":               {1, "make chaos-short: run by make test; make chaos and the go test line: its long form and one scenario of it, the same test with other flags"},
	"docs/operations.md ## The admin handler": {1, "not runnable: the credentials and the mount point are the reader's; " +
		"core/admin_test.go tests each request"},
	"docs/operations.md ### memcached nodes in non-sticky mode: warm restarts": {1, "not runnable: the pid file, the port, " +
		"the flags and /dev/shm are the reader's host; the same steps (SIGUSR1, the wait for the next second, the start " +
		"with the same flags, the curr_items check) are run by msmtest's Server.WarmRestart in TestWarmRestartKeepsEveryItem " +
		"and TestNonStickyRollingWarmRestartKeepsEverySession"},
}

// makeOnly are the sections whose blocks may hold only these commands.
var makeOnly = map[string][]string{
	"README.md # gomsm":     {"make demo", "make test"},
	"README.md ## Commands": {"make demo", "make test", "make chaos", "make stress-test", "go run ./examples/nethttp"},
}

// TestEveryShellBlockIsRun checks that every shell block of README.md and
// docs/ is run by a test, or is known not to be runnable (shellBlocks).
func TestEveryShellBlockIsRun(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md")
	found := map[string]int{}
	for _, page := range pages {
		rel, _ := filepath.Rel("../..", page)
		heading := ""
		inBlock := false
		for line := range strings.Lines(readFile(t, page)) {
			line = strings.TrimRight(line, "\n")
			switch {
			case !inBlock && strings.HasPrefix(line, "```"):
				inBlock = true
				if lang := strings.TrimPrefix(line, "```"); lang == "sh" || lang == "bash" || lang == "shell" || lang == "console" {
					found[rel+" "+heading]++
				}
			case inBlock && line == "```":
				inBlock = false
			case !inBlock && strings.HasPrefix(line, "#"):
				heading = line
			}
		}
	}
	for key, n := range found {
		want, ok := shellBlocks[key]
		if !ok {
			t.Errorf("%s: %d shell block(s) no test runs: run them in a test and list them in shellBlocks", key, n)
		} else if n != want.blocks {
			t.Errorf("%s: %d shell blocks, shellBlocks expects %d (%s)", key, n, want.blocks, want.how)
		}
	}
	for key := range shellBlocks {
		if found[key] == 0 {
			t.Errorf("shellBlocks lists %q, which has no shell block any more", key)
		}
	}

	readme := readFile(t, "../../README.md")
	for key, allowed := range makeOnly {
		_, heading, _ := strings.Cut(key, " ")
		text, _, _ := strings.Cut(readme, "\n## ") // the intro, before the first section
		if heading != "# gomsm" {
			text = section(t, readme, heading)
		}
		for _, block := range codeBlocks(text, "sh") {
			for line := range strings.Lines(block) {
				cmd, _, _ := strings.Cut(line, "#")
				if cmd = strings.TrimSpace(cmd); cmd != "" && !slices.Contains(allowed, cmd) {
					t.Errorf("%s: %q is run by no test", key, cmd)
				}
			}
		}
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"make test", "make demo"} {
		if !strings.Contains(string(ci), "\n"+cmd+"\n") && !strings.Contains(string(ci), "if "+cmd+"; then") {
			t.Errorf(".ci/run does not run %q, which README gives", cmd)
		}
	}
}
