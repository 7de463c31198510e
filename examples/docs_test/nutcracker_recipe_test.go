package docstest_test

import (
	"strings"
	"testing"
)

// TestNutcrackerRecipeIsShown: docs/operations.md shows docs/nutcracker.yml,
// the file core's tests through twemproxy run, byte for byte.
func TestNutcrackerRecipeIsShown(t *testing.T) {
	recipe := strings.TrimRight(readFile(t, "../../docs/nutcracker.yml"), "\n")
	if !strings.Contains(readFile(t, "../../docs/operations.md"), "```yaml\n"+recipe+"\n```") {
		t.Error("docs/operations.md does not show docs/nutcracker.yml as it is")
	}
}
