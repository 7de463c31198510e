package msmtest_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/gomsm/msm/core/msmtest"
)

// A test that proves how many memcached round trips a request costs and
// which keys it sends. The example only compiles: it needs memcached.
func Example() {
	// In a _test.go file, this is func TestLoadCost(t *testing.T).
	testLoadCost := func(t *testing.T) {
		mc := msmtest.Start(t)                    // skips if memcached is missing
		proxy := msmtest.StartProxy(t, mc.Addr()) // records what reaches memcached
		before := mc.Counters()

		// The code under test talks to proxy.Addr(); a raw connection
		// stands in for it here.
		conn, err := net.Dial("tcp", proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "get msm:abc\r\n")
		if reply, _ := bufio.NewReader(conn).ReadString('\n'); reply != "END\r\n" {
			t.Fatalf("reply %q", reply)
		}

		if d := mc.Counters().Sub(before); d.Get != 1 || d.Set != 0 {
			t.Errorf("one load cost %d gets and %d sets, want 1 and 0", d.Get, d.Set)
		}
		for _, cmd := range proxy.Commands() {
			if key := strings.Fields(cmd)[1]; !strings.HasPrefix(key, "msm:") {
				t.Errorf("key %q reached memcached", key)
			}
		}

		mc.Kill()    // the node is gone: connections are refused
		mc.Restart() // back on the same port, empty
		mc.Pause()   // the node hangs: connections are accepted, never answered
		mc.Resume()
	}
	_ = testLoadCost
}
