package docstest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pages are the docs whose Go snippets must all be examples of this
// package.
var pages = []string{"configuration.md", "migrating-from-java-msm.md", "load-balancers.md", "architecture.md", "sessions.md"}

var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// TestSnippetsAreExamples keeps the docs and the examples in step: every
// ```go block of the pages above must appear, line by line (white space
// aside), in one of this package's example files, so that it compiles.
func TestSnippetsAreExamples(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var src []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, normalize(string(b))...)
	}
	for _, page := range pages {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goBlock.FindAllStringSubmatch(string(b), -1) {
			if snippet := normalize(m[1]); !contains(src, snippet) {
				t.Errorf("docs/%s: this snippet is in no example of examples/docs_test:\n%s", page, m[1])
			}
		}
	}
}

// normalize splits s into lines with white space runs collapsed, without
// empty lines.
func normalize(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// contains reports whether the lines of part appear in src, in a row.
func contains(src, part []string) bool {
	for i := 0; i+len(part) <= len(src); i++ {
		match := true
		for j := range part {
			if src[i+j] != part[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
