package nodes

import (
	"strings"
	"sync"
	"time"
)

// Probe asks every node for its stats on a connection of its own, opened
// with dial (all
// nodes at once, each bounded by timeout) and names the nodes that
// answered ("n1 host:port") and those that did not, each with its error
// ("n2 host:port (dial tcp ...)"). It changes nothing: node health is
// learned from the operations of the sessions.
func Probe(list []*Node, timeout time.Duration, dial DialFunc) (up, down []string) {
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, n := range list {
		wg.Go(func() {
			_, errs[i] = FetchIdentity(n.Addr, timeout, dial)
		})
	}
	wg.Wait()
	for i, n := range list {
		name := strings.TrimPrefix(n.ID+" "+n.Addr, " ")
		if errs[i] == nil {
			up = append(up, name)
		} else {
			down = append(down, name+" ("+errs[i].Error()+")")
		}
	}
	return up, down
}
