package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
)

// TestNodeListMessages checks that a bad node list is reported in words a
// person can act on: which node, what is wrong, a value that works.
func TestNodeListMessages(t *testing.T) {
	for _, c := range []struct{ nodes, want string }{
		{"n1:localhost", `core: node "n1:localhost" has no port: "localhost" is not a port number; write id:host:port, as in "n1:localhost:11211"`},
		{"n1:localhost:0", `core: node "n1:localhost:0": port 0 is not from 1 to 65535 (memcached's default is 11211)`},
		{"localhost", `core: node "localhost" is not id:host:port (or host:port for a single node), as in "n1:10.0.0.1:11211"`},
		{"n1:a:1,b:2", `core: node "b:2" has no id: with several nodes each one is id:host:port, as in "n1:10.0.0.1:11211,n2:10.0.0.2:11211"`},
		{"n-1:a:1", `core: node "n-1:a:1": id "n-1" must be 1-32 letters, digits or _, as in "n1:10.0.0.1:11211"`},
		{"n1:a:1,n1:b:2", `core: node "n1:b:2": node id "n1" is used twice; each node needs its own id`},
	} {
		_, err := core.ParseNodes(c.nodes)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseNodes(%q) = %v\nwant %s", c.nodes, err, c.want)
		}
		// core.New reports the same message, naming the field once.
		_, err = core.New(core.Config{Nodes: c.nodes})
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "core: ")) {
			t.Errorf("New(Nodes %q) = %v\nwant it to hold %s", c.nodes, err, c.want)
		}
	}
}

// TestConfigMessages checks that each config mistake names its field and
// gives a value that works.
func TestConfigMessages(t *testing.T) {
	for _, c := range []struct {
		cfg  core.Config
		want string
	}{
		{core.Config{Route: "app 1"}, `core: Route "app 1": want at most 32 letters, digits, _ and -, as in "app1"`},
		{core.Config{KeyPrefix: "a b"}, `core: KeyPrefix "a b": want at most 64 letters, digits and _.:/-, as in "shop:"`},
		{core.Config{OperationTimeout: -time.Second}, `core: OperationTimeout is -1s: want 0 (the default) or a positive duration, as in 2*time.Second`},
		{core.Config{MaxLifetime: -time.Hour}, `core: MaxLifetime is -1h0m0s: want 0 (no absolute lifetime) or a positive duration, as in 2*time.Second`},
		{core.Config{MaxIdleConns: -1}, `core: MaxIdleConns is -1: want 0 (the default) or a positive number`},
		{core.Config{Header: "X Session"}, `core: Header "X Session" is not a valid header name; want letters, digits and !#$%&'*+-.^_` + "`" + `|~, as in "X-Session"`},
	} {
		_, err := core.New(c.cfg)
		if err == nil || err.Error() != c.want {
			t.Errorf("New(%+v) = %v\nwant %s", c.cfg, err, c.want)
		}
	}
}
