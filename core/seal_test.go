package core_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

func sealKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func sealer(t testing.TB, keys ...[]byte) codec.Sealer {
	t.Helper()
	s, err := codec.NewAESGCM(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSealerHidesAndRotates: with Config.Sealer the bytes in memcached
// hold no attribute name or value; an instance with the rotated key list
// (new key first, old key kept) reads the session; an instance without the
// key, or with another key, sees no session and counts it as corrupt; a
// plain envelope forged by whoever reaches memcached is no session either.
func TestSealerHidesAndRotates(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	direct := mcClient(mc)
	oldKey, newKey := sealKey(t), sealKey(t)
	cfg := func(s codec.Sealer) core.Config {
		return core.Config{Nodes: nodesOf(mc), SyncBackup: true, Sealer: s}
	}
	a := start(t, cfg(sealer(t, oldKey)), shop())
	const card = "4111-1111-1111-1111"
	br := newBrowser(t)
	br.get(a, "/set?card="+card+"&name=ann")
	id := br.sid()
	it, err := direct.Get(keyOf(id))
	if err != nil {
		t.Fatalf("sealed session not in memcached: %v", err)
	}
	for _, plain := range []string{card, "ann", "card", "MSM", "cbor"} {
		if bytes.Contains(it.Value, []byte(plain)) {
			t.Errorf("memcached holds %q in plain text: %q", plain, it.Value)
		}
	}

	// Rotation: new key first, old key kept; it reads the old blob and
	// writes with the new key, which an instance with only the new key reads.
	rotated := start(t, cfg(sealer(t, newKey, oldKey)), shop())
	if got, _ := br.get(rotated, "/get?k=card"); got != card {
		t.Errorf("instance with the rotated key list reads card = %q", got)
	}
	br.get(rotated, "/set?name=bob")
	newOnly := start(t, cfg(sealer(t, newKey)), shop())
	if got, _ := br.get(newOnly, "/get?k=name"); got != "bob" {
		t.Errorf("after a write under the new key, a new-key-only instance reads name = %q", got)
	}

	// No key, or another key: no session, counted as corrupt.
	for name, s := range map[string]codec.Sealer{"no sealer": nil, "another key": sealer(t, sealKey(t))} {
		inst := start(t, cfg(s), shop())
		thief := newBrowser(t)
		thief.setSID(id)
		if got, _ := thief.get(inst, "/get?k=card"); got != "<none>" {
			t.Errorf("%s: reads card = %q", name, got)
		}
		if st := inst.m.Stats(); st.SessionsCorrupt != 1 {
			t.Errorf("%s: SessionsCorrupt = %d, want 1", name, st.SessionsCorrupt)
		}
	}

	// A forged plain envelope, as written by whoever reaches memcached.
	admin, _ := codec.CBOR.Marshal("admin")
	forged, err := codec.EncodeEnvelope(&codec.Envelope{
		Codec: "cbor", Version: 1, CreatedAt: time.Now(), LastAccessed: time.Now(),
		MaxInactive: time.Hour, Attributes: map[string][]byte{"name": admin},
	})
	if err != nil {
		t.Fatal(err)
	}
	forgedID := strings.Repeat("ab", 16) + "-n1"
	if err := direct.Set(&memcache.Item{Key: forgedID, Value: forged}); err != nil {
		t.Fatal(err)
	}
	before := a.m.Stats().SessionsCorrupt
	forger := newBrowser(t)
	forger.setSID(forgedID)
	if got, _ := forger.get(a, "/get?k=name"); got != "<none>" {
		t.Errorf("forged plain session accepted: name = %q", got)
	}
	if st := a.m.Stats(); st.SessionsCorrupt != before+1 {
		t.Errorf("forged session: SessionsCorrupt = %d, want %d", st.SessionsCorrupt, before+1)
	}
}

// TestSealerNonSticky: in non-sticky mode both copies (primary and bak:)
// are sealed, and an instance with the rotated key list reads them.
func TestSealerNonSticky(t *testing.T) {
	t.Parallel()
	mcs := msmtest.StartN(t, 2)
	key := sealKey(t)
	cfg := core.Config{Nodes: nodesOf(mcs...), NonSticky: true, Sealer: sealer(t, key)}
	rt := shop()
	a := start(t, cfg, rt)
	br := newBrowser(t)
	const secret = "s3cr3t-value"
	br.get(a, "/set?secret="+secret)
	id := br.sid()
	// The primary copy is written before the response, the bak: copy
	// after it: wait for both.
	var copies [][]byte
	waitFor(t, effectWait, "primary and bak: copies", func() bool {
		copies = nil
		for _, mc := range mcs {
			c := mcClient(mc)
			for _, k := range []string{keyOf(id), "bak:" + keyOf(id)} {
				if it, err := c.Get(k); err == nil {
					copies = append(copies, it.Value)
				}
			}
		}
		return len(copies) == 2
	})
	for _, v := range copies {
		if bytes.Contains(v, []byte(secret)) {
			t.Errorf("a copy holds the secret in plain text: %q", v)
		}
	}
	cfg.Sealer = sealer(t, sealKey(t), key)
	b := start(t, cfg, rt)
	if got, _ := br.get(b, "/get?k=secret"); got != secret {
		t.Errorf("rotated instance reads %q", got)
	}
}
