package core

import (
	"testing"

	"github.com/gomsm/msm/core/msmtest"
)

// TestNewPicksTheModeOnce: New sets the mode from Config.NonSticky, and
// the mode answers what the Manager asks of it (memcached as the store of
// record, a node for the second copy) without the Manager asking which
// mode it is.
func TestNewPicksTheModeOnce(t *testing.T) {
	mcs := msmtest.StartN(t, 2)
	nodes := "n1:" + mcs[0].Addr() + ",n2:" + mcs[1].Addr()
	for _, ns := range []bool{false, true} {
		m, err := New(Config{Nodes: nodes, NonSticky: ns})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if got, isNS := m.mode.(*nonSticky); isNS != ns || isNS && got != m.ns {
			t.Errorf("NonSticky %v: mode %T", ns, m.mode)
		}
		if m.mode.storeOfRecord() != ns {
			t.Errorf("NonSticky %v: storeOfRecord %v", ns, m.mode.storeOfRecord())
		}
		n1 := m.nodes.Load().ByID["n1"]
		if got := m.mode.copyNode(n1); (got != nil) != ns || ns && got.ID != "n2" {
			t.Errorf("NonSticky %v: copyNode(n1) = %v", ns, got)
		}
	}
}
