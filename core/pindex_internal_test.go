package core

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestIndexRoundTrip: an index encodes and decodes to the same entries.
func TestIndexRoundTrip(t *testing.T) {
	ix := newPrincipalIndex()
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 32)
	ix.live[a] = indexEntry{base: a, node: "n1", added: 1}
	ix.revoke(b, time.Unix(0, 7))
	got := decodeIndex(ix.encode())
	if len(got.live) != 1 || got.live[a] != ix.live[a] || got.revoked[b] != 7 {
		t.Errorf("decoded %+v, want %+v", got, ix)
	}
}

// TestIndexDecodeRefusesForgedLines: lines whose ids would not pass the
// id grammar (a CR/LF, a space, a route, a foreign key) are skipped, so
// nothing read from memcached reaches a key unchecked.
func TestIndexDecodeRefusesForgedLines(t *testing.T) {
	good := strings.Repeat("c", 32)
	v := strings.Join([]string{
		"+ " + good + " n1 5",
		"+ " + strings.Repeat("C", 32) + " n1 5",    // upper case: no base
		"+ " + good + "x n1 5",                      // too long
		"+ " + strings.Repeat("d", 32) + " n1.r 5",  // a route
		"+ " + strings.Repeat("e", 32) + " n\r1 5",  // a control character
		"+ " + strings.Repeat("f", 32) + " n1 five", // not a number
		"- " + strings.Repeat("1", 32) + "-n1 5",    // revoked entries carry no node
		"set evil 0 0 1",
	}, "\n")
	ix := decodeIndex([]byte(v))
	if len(ix.live) != 1 || ix.live[good].node != "n1" || len(ix.revoked) != 0 {
		t.Errorf("decoded %+v, want only %s live", ix, good)
	}
}

// TestIndexMergeRevokedWins: a session revoked in either copy is revoked
// in the merge; live entries of both copies are kept.
func TestIndexMergeRevokedWins(t *testing.T) {
	a, b, c := strings.Repeat("a", 32), strings.Repeat("b", 32), strings.Repeat("c", 32)
	x, y := newPrincipalIndex(), newPrincipalIndex()
	x.live[a] = indexEntry{base: a, node: "n1", added: 1}
	x.live[b] = indexEntry{base: b, node: "n1", added: 2}
	y.live[c] = indexEntry{base: c, node: "n2", added: 3}
	y.revoke(b, time.Unix(0, 9))
	x.merge(y)
	if len(x.live) != 2 || x.live[a].base == "" || x.live[c].base == "" || x.revoked[b] != 9 {
		t.Errorf("merge = %+v", x)
	}
}

// TestIndexTrim: revoked entries older than keep go; over the bound, the
// oldest live sessions are revoked and the oldest revoked entries
// forgotten.
func TestIndexTrim(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ix := newPrincipalIndex()
	old := strings.Repeat("0", 32)
	ix.revoked[old] = now.Add(-2 * time.Hour).UnixNano()
	for i := range maxIndexEntries + 5 {
		b := fmt.Sprintf("%032x", i+1)
		ix.live[b] = indexEntry{base: b, node: "n1", added: int64(i)}
	}
	ix.trim(now, time.Hour)
	if _, ok := ix.revoked[old]; ok {
		t.Errorf("a revoked entry older than keep survived trim")
	}
	if len(ix.live) != maxIndexEntries || len(ix.revoked) != 5 {
		t.Errorf("after trim: %d live, %d revoked; want %d and 5", len(ix.live), len(ix.revoked), maxIndexEntries)
	}
	first := fmt.Sprintf("%032x", 1)
	if _, ok := ix.revoked[first]; !ok {
		t.Errorf("the oldest live session was not the one revoked")
	}
}
