package docstest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// mdLink is the target of a Markdown link: [text](target).
	mdLink = regexp.MustCompile(`\]\(([^)\s#]*)(?:#[^)]*)?\)`)
	// codePath is a path of this repository in backquotes:
	// `core/middleware.go`, `examples/cluster`, `./examples/gin`.
	codePath = regexp.MustCompile("`(?:\\./)?((?:core|codec|ginmsm|echomsm|chimsm|examples|bench|docs|\\.ci)(?:/[A-Za-z0-9_.-]+)*)/?`")
)

// releaseTag is a git tag of a module, such as core/v0.1.0: not a file.
var releaseTag = regexp.MustCompile(`/v[0-9]+\.[0-9]+\.[0-9]+$`)

// generated are the paths the docs cite that a command creates; they are
// not in the repository.
var generated = map[string]string{
	"bench/results": "go run ./bench writes its reports there (git-ignored)",
}

// TestDocsCiteExistingFiles checks that README.md and every page of docs/
// cite only files of this repository that exist: relative links, and
// repository paths in backquotes.
func TestDocsCiteExistingFiles(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	for _, page := range pages {
		text := readFile(t, page)
		rel, _ := filepath.Rel(root, page)
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(page), filepath.FromSlash(target))); err != nil {
				t.Errorf("%s links to %s, which is not in the repository", rel, target)
			}
		}
		for _, m := range codePath.FindAllStringSubmatch(text, -1) {
			if releaseTag.MatchString(m[1]) || generated[m[1]] != "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1]))); err != nil {
				t.Errorf("%s cites %s, which is not in the repository", rel, m[1])
			}
		}
	}
}

// TestEveryDocIsListed checks that README.md and docs/README.md link to
// every page of docs/.
func TestEveryDocIsListed(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := readFile(t, "../../README.md")
	index := readFile(t, "../../docs/README.md")
	for _, p := range pages {
		name := filepath.Base(p)
		if name == "README.md" {
			continue
		}
		if !strings.Contains(readme, "(docs/"+name+")") {
			t.Errorf("README.md does not link to docs/%s", name)
		}
		if !strings.Contains(index, "("+name+")") {
			t.Errorf("docs/README.md does not link to %s", name)
		}
	}
}
