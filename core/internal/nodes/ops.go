package nodes

import "sync/atomic"

// Op is a kind of memcached operation, as counted per node.
type Op int

// The operations gomsm sends.
const (
	OpGet Op = iota
	OpSet
	OpTouch
	OpDelete
	OpAdd
	OpGets
	OpCAS
	numOps
)

var opNames = [numOps]string{"get", "set", "touch", "delete", "add", "gets", "cas"}

type result int

const (
	resultOK result = iota
	resultMiss
	resultNotStored
	resultError
	resultSkipped
	numResults
)

var resultNames = [numResults]string{"ok", "miss", "not_stored", "error", "skipped"}

// OpStats counts a node's operations by op and result.
type OpStats struct {
	n [numOps][numResults]atomic.Uint64
}

func (s *OpStats) add(op Op, r result) { s.n[op][r].Add(1) }

// Reset sets every count to zero.
func (s *OpStats) Reset() { s.copyFrom(nil) }

// copyFrom sets s to the counts of src (or to zero when src is nil).
func (s *OpStats) copyFrom(src *OpStats) {
	for i := range s.n {
		for j := range s.n[i] {
			var v uint64
			if src != nil {
				v = src.n[i][j].Load()
			}
			s.n[i][j].Store(v)
		}
	}
}

// Snapshot returns the non-zero counts by op name ("get", "set", "touch",
// "delete", "add", "gets", "cas") and result name ("ok", "miss",
// "not_stored", "error", "skipped").
func (s *OpStats) Snapshot() map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	for i := range s.n {
		for j := range s.n[i] {
			if v := s.n[i][j].Load(); v > 0 {
				if out[opNames[i]] == nil {
					out[opNames[i]] = map[string]uint64{}
				}
				out[opNames[i]][resultNames[j]] = v
			}
		}
	}
	return out
}
