package msmtest_test

import (
	"path/filepath"
	"testing"

	"github.com/gomsm/msm/core/msmtest"
)

// A planned restart that keeps every item: memcached keeps them in a
// memory file, and WarmRestart stops it with SIGUSR1 and starts it again
// on the same port with them. The example only compiles: it needs a test.
func ExampleServer_WarmRestart() {
	test := func(t *testing.T) {
		mc := msmtest.Start(t, msmtest.Options{MemoryFile: filepath.Join(t.TempDir(), "memory")})
		// ... store sessions on mc.Addr() ...
		mc.WarmRestart() // the same items, a new process
		if n := mc.Stat("curr_items"); n == 0 {
			t.Error("the warm restart lost the items")
		}
	}
	_ = test
}
