package msmtest_test

import (
	"fmt"

	"github.com/gomsm/msm/core/msmtest"
)

// A memcached for a program that is not a test: a load generator or a
// demo. Launch returns errors instead of failing a test. The example only
// compiles: it needs memcached.
func ExampleLaunch() {
	run := func() error {
		mc, err := msmtest.Launch(msmtest.Options{MemoryMB: 256})
		if err != nil {
			return err // wraps msmtest.ErrNoMemcached when it is not installed
		}
		defer mc.Stop()
		fmt.Println("memcached on", mc.Addr(), "pid", mc.Pid())

		stats, err := msmtest.ReadStats(mc.Addr())
		if err != nil {
			return err
		}
		fmt.Println("version", stats["version"])

		mc.Kill()           // the node is gone
		return mc.Restart() // back on the same port, empty
	}
	_ = run
}
