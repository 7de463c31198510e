package codec

import "errors"

// Decoding CBOR into Go values costs far more memory than the bytes it
// reads: a 1-byte empty map becomes a Go map of 56 bytes or more, a
// one-pair map several hundred. Per-container limits (MaxArrayElements,
// MaxMapPairs) cannot bound that, since every element is cheap to write
// and dear to decode. So before decoding, scanCBOR walks the item heads
// (no allocation) and adds up what decoding into the generic Go types
// would allocate; a value over the budget is refused without being
// decoded.
const (
	// budgetRatio and budgetSlack make the budget of n input bytes
	// budgetRatio*n + budgetSlack: small values decode whatever their shape,
	// large ones at most ten times their size (a session blob is at most
	// Config.MaxSessionBytes, 1 MB - 1 KB by default).
	budgetRatio = 10
	budgetSlack = 1 << 20
)

// ErrTooCostly is wrapped by the error a decoder returns, before decoding,
// for bytes whose decoded Go form would take more memory than its budget:
// ten times their size plus 1 MiB. Data gomsm wrote from ordinary values
// stays far below it; hostile bytes (millions of empty maps) reach it.
var ErrTooCostly = errors.New("codec: decoded value would take too much memory")

// allocBudget is what decoding n bytes may allocate.
func allocBudget(n int) uint64 { return budgetRatio*uint64(n) + budgetSlack }

// Costs, in bytes, of the Go values that decoding into an any produces,
// measured with fxamacker/cbor v2.10 on 64-bit Go (rounded up): the slot a
// value takes in its parent []any, the box of a non-pointer value, a map's
// header and the per-pair cost of its buckets, keys and growth.
const (
	costFixed      = 8 << 10 // the decoder's own state
	costSlot       = 16      // an element of []any
	costScalar     = 8       // a boxed int or float
	costBytes      = 24      // a boxed []byte header
	costString     = 16      // a boxed string header
	costTag        = 80      // time.Time, big.Int or cbor.Tag, boxed
	costMap        = 64      // a map's header
	costMapMin     = 320     // the one group of a map with 1 to 8 pairs
	costPairText   = 96      // one pair of a larger map whose keys are all text
	costPairAnyKey = 192     // one pair of a larger map[any]any
)

// cborScan is the result of walking a CBOR value.
type cborScan struct {
	base  uint64 // what everything but the maps' own storage costs
	maps  uint64 // maps
	small uint64 // maps of 1 to 8 pairs: one group of 8 slots each
	pairs uint64 // pairs of the maps of more than 8 pairs
	// anyKeys is set when some map key is not a text string: then every
	// map of the value decodes into map[any]any rather than map[string]any.
	anyKeys bool
}

// cost is an upper estimate of what decoding the value into an any
// allocates.
func (s *cborScan) cost() uint64 {
	pair := uint64(costPairText)
	if s.anyKeys {
		pair = costPairAnyKey
	}
	return costFixed + s.base + costMap*s.maps + costMapMin*s.small + pair*s.pairs
}

// scanCBOR walks the item heads of the CBOR value that fills data, without
// allocating. ok is false for bytes it cannot walk (malformed, truncated,
// trailing bytes, indefinite lengths, nested deeper than maxDepth): the
// decoder rejects those itself before it allocates for them.
func scanCBOR(data []byte, maxDepth int) (s cborScan, ok bool) {
	w := cborWalker{data: data, maxDepth: maxDepth}
	ok = w.item(0, &s) && w.off == len(data)
	return s, ok
}

type cborWalker struct {
	data     []byte
	off      int
	maxDepth int
}

// head reads an item head: major type, additional info and argument.
func (w *cborWalker) head() (mt, ai byte, arg uint64, ok bool) {
	if w.off >= len(w.data) {
		return 0, 0, 0, false
	}
	b := w.data[w.off]
	w.off++
	mt, ai = b>>5, b&0x1f
	var n int
	switch {
	case ai < 24:
		return mt, ai, uint64(ai), true
	case ai == 24:
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	default:
		return 0, 0, 0, false // reserved, or an indefinite length
	}
	if len(w.data)-w.off < n {
		return 0, 0, 0, false
	}
	for _, c := range w.data[w.off : w.off+n] {
		arg = arg<<8 | uint64(c)
	}
	w.off += n
	return mt, ai, arg, true
}

// item walks one data item and adds its cost (without its slot in a
// parent array) to s.
// Longer than 50 lines: one case per CBOR major type; the switch is the
// format's table and reads best whole.
func (w *cborWalker) item(depth int, s *cborScan) bool {
	if depth > w.maxDepth {
		return false
	}
	mt, ai, arg, ok := w.head()
	if !ok {
		return false
	}
	rest := uint64(len(w.data) - w.off)
	switch mt {
	case 0: // unsigned: values below 256 box without allocating
		if arg >= 256 {
			s.base += costScalar
		}
	case 1: // negative
		s.base += costScalar
	case 2, 3: // byte or text string
		if arg > rest {
			return false
		}
		w.off += int(arg)
		if mt == 2 {
			s.base += costBytes + arg
		} else if arg > 0 {
			s.base += costString + arg
		}
	case 4: // array; every element takes at least one byte
		if arg > rest {
			return false
		}
		s.base += costBytes + costSlot*arg
		for range arg {
			if !w.item(depth+1, s) {
				return false
			}
		}
	case 5: // map; every pair takes at least two bytes
		if arg > rest/2 {
			return false
		}
		s.maps++
		if arg > 8 {
			s.pairs += arg
		} else if arg > 0 {
			s.small++
		}
		for range arg {
			if w.off < len(w.data) && w.data[w.off]>>5 != 3 {
				s.anyKeys = true
			}
			if !w.item(depth+1, s) || !w.item(depth+1, s) {
				return false
			}
		}
	case 6: // tag, then its content
		s.base += costTag
		return w.item(depth+1, s)
	case 7: // simple values, floats
		if ai >= 25 {
			s.base += costScalar
		}
	}
	return true
}
