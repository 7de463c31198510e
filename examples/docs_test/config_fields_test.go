package docstest_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gomsm/msm/core"
)

// fieldRow is a table row of docs/configuration.md that documents a field:
// its first cell is the field name in backquotes.
var fieldRow = regexp.MustCompile("(?m)^\\| `([A-Z][A-Za-z]*)` \\|")

// TestConfigurationCoversEveryField keeps docs/configuration.md in step
// with core/config.go: every field of core.Config and core.CookieConfig has
// a row, and every row names a field.
func TestConfigurationCoversEveryField(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	config, cookie, ok := strings.Cut(page, "\n## CookieConfig")
	if !ok {
		t.Fatal(`docs/configuration.md has no "## CookieConfig" section`)
	}
	check := func(name string, typ reflect.Type, section string) {
		var documented []string
		for _, m := range fieldRow.FindAllStringSubmatch(section, -1) {
			documented = append(documented, m[1])
		}
		var fields []string
		for f := range typ.Fields() {
			if f.IsExported() {
				fields = append(fields, f.Name)
			}
		}
		for _, f := range fields {
			if !slices.Contains(documented, f) {
				t.Errorf("docs/configuration.md: %s.%s has no row", name, f)
			}
		}
		for _, d := range documented {
			if !slices.Contains(fields, d) {
				t.Errorf("docs/configuration.md: a row documents %s.%s, which does not exist", name, d)
			}
		}
	}
	check("core.Config", reflect.TypeFor[core.Config](), config)
	check("core.CookieConfig", reflect.TypeFor[core.CookieConfig](), cookie)
}
