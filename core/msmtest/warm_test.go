package msmtest

import (
	"path/filepath"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

func TestWarmRestartKeepsItems(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{MemoryFile: filepath.Join(t.TempDir(), "memory")})
	c := memcache.New(s.Addr())
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("kept"), Expiration: 600}); err != nil {
		t.Fatal(err)
	}
	pid := s.Process().Pid()
	s.WarmRestart()
	if s.Process().Pid() == pid {
		t.Fatal("WarmRestart did not start a new process")
	}
	c = memcache.New(s.Addr())
	it, err := c.Get("k")
	if err != nil || string(it.Value) != "kept" {
		t.Fatalf("after a warm restart: %v %v, want the item kept\n%s", it, err, s.Log())
	}
	s.Restart() // a cold restart forgets it
	if _, err := memcache.New(s.Addr()).Get("k"); err != memcache.ErrCacheMiss {
		t.Errorf("after a cold restart: %v, want a miss", err)
	}
}

func TestWarmRestartNeedsAMemoryFile(t *testing.T) {
	t.Parallel()
	s := Start(t)
	if err := s.Process().WarmRestart(); err == nil {
		t.Error("WarmRestart without MemoryFile: no error")
	}
}
