package core

import (
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/core/internal/localstore"
	"github.com/gomsm/msm/core/msmtest"
)

// TestVersionedWriteKeepsTheNewest: a write of an older version that
// arrives after a newer one (late from a queue, or from another instance)
// is refused, and so is any write over a tombstone.
func TestVersionedWriteKeepsTheNewest(t *testing.T) {
	mc := msmtest.Start(t)
	m, err := New(Config{Nodes: "n1:" + mc.Addr(), OperationTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := m.nodes.Load().ByID["n1"]
	key := keyFor("", "0123456789abcdef0123456789abcdef", "n1")
	direct := memcache.New(mc.Addr())
	direct.Timeout = 10 * time.Second

	for _, w := range []struct {
		version uint64
		value   string
		want    error
	}{
		{1, "v1", nil},
		{3, "v3", nil},
		{2, "v2 (late)", errNewerStored},
		{3, "other v3", errNewerStored},
		{3, "v3", nil}, // the same write again (its answer was lost): fine
		{4, "v4", nil},
	} {
		if err := m.writeVersioned(n, key, []byte(w.value), w.version, 0, localstore.Seen{}); !errors.Is(err, w.want) {
			t.Errorf("write of version %d: %v, want %v", w.version, err, w.want)
		}
	}
	if it, err := direct.Get(key); err != nil || string(it.Value) != "v4" || it.Flags != 4 {
		t.Fatalf("stored %v %v, want v4 with flags 4", it, err)
	}
	direct.Set(&memcache.Item{Key: key, Value: tombstone})
	if err := m.writeVersioned(n, key, []byte("v9"), 9, 0, localstore.Seen{}); !errors.Is(err, errSessionGone) {
		t.Errorf("write over a tombstone: %v, want errSessionGone", err)
	}
	if it, _ := direct.Get(key); !isTombstone(it.Value) {
		t.Error("a tombstone was overwritten")
	}
}
