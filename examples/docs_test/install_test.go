package docstest_test

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// gomsmRequire matches a requirement on one of this repository's modules
// in a go.mod file: its path and version.
var gomsmRequire = regexp.MustCompile(`(?m)^\s*(?:require\s+)?(github\.com/gomsm/msm/\S+) (v\S+)`)

// gomsmGet matches a module argument of README's go get lines.
var gomsmGet = regexp.MustCompile(`github\.com/gomsm/msm/[a-z/]+@(v[0-9A-Za-z.\-]+)`)

// TestInstallAsReadmeSays follows README.md's "Install" section literally,
// the way a user outside this repository would: it runs each command of
// the section's shell block in a throwaway module in a temporary directory,
// with GOWORK=off, and builds README's quick-start program there plus a
// small gin app. The module proxy is a local file:// proxy that the test
// builds from the repository's modules at the version README names (what
// tagging the release would publish), falling back to the machine's module
// cache for gin and the other third-party modules, so nothing is
// downloaded. It proves that the go.mod graph is sound without any replace
// line in the user's module: the modules require each other at real
// versions.
func TestInstallAsReadmeSays(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme := readFile(t, filepath.Join(root, "README.md"))
	install := section(t, readme, "## Install")
	shell := codeBlocks(install, "sh")
	if len(shell) != 1 {
		t.Fatalf(`README.md "Install": want one sh block, found %d`, len(shell))
	}
	var version string
	for _, m := range gomsmGet.FindAllStringSubmatch(shell[0], -1) {
		if version != "" && m[1] != version {
			t.Fatalf("README.md \"Install\" names two versions, %s and %s", version, m[1])
		}
		version = m[1]
	}
	if version == "" {
		t.Fatal(`README.md "Install" has no "go get github.com/gomsm/msm/...@<version>" line`)
	}
	quick := codeBlocks(section(t, readme, "## Quick start"), "go")
	if len(quick) != 1 || !strings.HasPrefix(quick[0], "package main") {
		t.Fatal(`README.md "Quick start": want one go block holding a whole program (package main)`)
	}

	// The repository's modules, as the workspace lists them.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	modules := map[string]string{}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		path, dir, _ := strings.Cut(strings.TrimSpace(line), " ")
		modules[path] = dir
	}

	// Released together: every module requires its siblings at the version
	// README tells users to get, so one tag per module at one commit is a
	// consistent release (see README.md, "Install").
	for _, dir := range modules {
		gomod := readFile(t, filepath.Join(dir, "go.mod"))
		// Replace lines apply only where the module is the main module:
		// inside this repository (go get and go mod tidy in a module then
		// find its siblings), never in a user's build. So they may only
		// point a sibling at its directory: replacing anything else would
		// build this repository with code its users do not get.
		out, err := exec.Command("go", "mod", "edit", "-json", filepath.Join(dir, "go.mod")).Output()
		if err != nil {
			t.Fatalf("go mod edit -json %s/go.mod: %v", dir, err)
		}
		var mod struct {
			Replace []struct {
				Old, New struct{ Path, Version string }
			}
		}
		if err := json.Unmarshal(out, &mod); err != nil {
			t.Fatal(err)
		}
		for _, r := range mod.Replace {
			sibling, ok := modules[r.Old.Path]
			target := filepath.Join(dir, r.New.Path)
			if !ok || r.New.Version != "" || target != sibling {
				t.Errorf("%s/go.mod replaces %s with %s: only a sibling module by its directory may be replaced", dir, r.Old.Path, r.New.Path)
			}
		}
		for _, m := range gomsmRequire.FindAllStringSubmatch(gomod, -1) {
			if m[2] != version {
				t.Errorf("%s/go.mod requires %s %s; README installs %s", dir, m[1], m[2], version)
			}
			if _, ok := modules[m[1]]; !ok {
				t.Errorf("%s/go.mod requires %s, which is not a module of this repository", dir, m[1])
			}
		}
	}

	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	for path, dir := range modules {
		publish(t, proxy, path, version, dir)
	}
	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, k := range []string{"GOWORK=", "GOFLAGS=", "GOPROXY=", "GOSUMDB=", "GONOSUMDB=",
			"GOPRIVATE=", "GONOPROXY=", "GOMODCACHE=", "GOTOOLCHAIN=", "GOINSECURE="} {
			if strings.HasPrefix(kv, k) {
				return true
			}
		}
		return false
	})
	env = append(env,
		"GOWORK=off",
		// -trimpath: the build cache then serves the next run, whose module
		// cache is another temporary directory.
		"GOFLAGS=-mod=mod -modcacherw -buildvcs=false -trimpath",
		// This repository's modules from the local proxy, everything else
		// from the module cache (its download directory is a file proxy).
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+
			filepath.ToSlash(filepath.Join(strings.TrimSpace(string(gomodcache)), "cache", "download")),
		"GOSUMDB=off", // the local proxy's zips are not in the checksum database
		"GOMODCACHE="+filepath.Join(tmp, "modcache"),
		"GOTOOLCHAIN=local",
	)
	app := filepath.Join(tmp, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := command(app, env, name, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// A user's module proxy has every version of gin and the rest; this
	// machine's module cache has the go.mod files of every version in the
	// module graph but the zips only of the versions this workspace builds
	// with, which are never lower than what ginmsm requires. So right after
	// "go mod init" the user's module is made to require the third-party
	// modules at the workspace's versions; the gomsm modules still come
	// from the proxy at the version README names, as README gets them.
	workspace := listVersions(t, exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Version}}", "all"))
	seed := []string{"mod", "edit"}
	for _, m := range gomsmGet.FindAllStringSubmatch(shell[0], -1) {
		path, _, _ := strings.Cut(m[0], "@")
		out, err := exec.Command("go", "mod", "edit", "-json", filepath.Join(modules[path], "go.mod")).Output()
		if err != nil {
			t.Fatalf("go mod edit -json of %s: %v", path, err)
		}
		var gomod struct{ Require []struct{ Path string } }
		if err := json.Unmarshal(out, &gomod); err != nil {
			t.Fatal(err)
		}
		for _, r := range gomod.Require {
			if v, ok := workspace[r.Path]; ok && !strings.HasPrefix(r.Path, "github.com/gomsm/") {
				seed = append(seed, "-require="+r.Path+"@"+v)
			}
		}
	}
	for line := range strings.Lines(shell[0]) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			run("sh", "-c", line)
			if strings.HasPrefix(line, "go mod init") {
				run("go", seed...)
			}
		}
	}
	write := func(rel, text string) {
		p := filepath.Join(app, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("quickstart/main.go", quick[0])
	write("ginapp/main.go", ginApp)
	run("go", "build", "./...")

	gomod := readFile(t, filepath.Join(app, "go.mod"))
	if strings.Contains(gomod, "replace") {
		t.Errorf("the user's go.mod needed a replace line:\n%s", gomod)
	}
	for _, want := range []string{"github.com/gomsm/msm/core " + version, "github.com/gomsm/msm/ginmsm " + version} {
		if !strings.Contains(gomod, want) {
			t.Errorf("the user's go.mod does not require %s:\n%s", want, gomod)
		}
	}
}

// ginApp is the smallest gin app on ginmsm, built by
// TestInstallAsReadmeSays in the user's module.
const ginApp = `package main

import (
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/ginmsm"
)

func main() {
	m, err := core.New(core.Config{Nodes: "n1:127.0.0.1:11211"})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	r := gin.New()
	r.Use(gin.Recovery(), ginmsm.Middleware(m))
	r.GET("/visit", func(c *gin.Context) {
		s := ginmsm.Session(c)
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		c.String(http.StatusOK, "visit %d", n)
	})
	_ = r
}
`

// publish writes module path at version, from the module directory dir,
// into the file:// module proxy at proxy: @v/list, .info, .mod and .zip,
// the layout "go help goproxy" describes. The zip holds what a tag would
// publish: the module's files, without nested modules (a directory with
// its own go.mod) and version-control directories.
func publish(t *testing.T, proxy, path, version, dir string) {
	t.Helper()
	at := filepath.Join(proxy, filepath.FromSlash(path), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"list":            version + "\n",
		version + ".info": fmt.Sprintf(`{"Version":%q,"Time":"2026-01-01T00:00:00Z"}`, version),
		version + ".mod":  readFile(t, filepath.Join(dir, "go.mod")),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(at, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	zw := zip.NewWriter(bw)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == dir {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "vendor" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // a nested module is a module of its own
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(path + "@" + version + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		t.Fatalf("zip of %s: %v", path, err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the part of a Markdown page from the heading that starts
// with heading to the next heading of the same level.
func section(t *testing.T, page, heading string) string {
	t.Helper()
	i := strings.Index(page, "\n"+heading)
	if i < 0 {
		t.Fatalf("no section %q", heading)
	}
	rest := page[i+1:]
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if j := strings.Index(rest[len(heading):], "\n"+level); j >= 0 {
		return rest[:len(heading)+j+1]
	}
	return rest
}

// codeBlocks returns the bodies of the fenced code blocks of text whose
// info string is lang.
func codeBlocks(text, lang string) []string {
	var blocks []string
	var cur *strings.Builder
	for line := range strings.Lines(text) {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return blocks
}

func command(dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	return cmd
}

// listVersions runs cmd, a "go list -m -f '{{.Path}} {{.Version}}'", and
// returns the versions by module path; modules without a version (the
// main or workspace modules) are left out.
func listVersions(t *testing.T, cmd *exec.Cmd) map[string]string {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	versions := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if path, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && v != "" {
			versions[path] = v
		}
	}
	return versions
}

// escapePath is a module path as the module cache spells it: each upper
// case letter as "!" and its lower case ("go help goproxy").
func escapePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return filepath.FromSlash(b.String())
}
