package envelope

import (
	"errors"
	"fmt"

	"github.com/gomsm/msm/codec"
)

// ErrTooLarge means a session's encoding is over the size bound. core
// exports it as ErrSessionTooLarge.
var ErrTooLarge = errors.New("core: session too large for memcached")

// Tombstone replaces the memcached copy of an invalidated or renamed
// session (instead of a delete), so that an instance still holding an old
// local copy learns, when it next revalidates, that the session is dead,
// rather than write it back. It is no envelope: Decode never mistakes it.
var Tombstone = []byte("MSM\x00dead")

// IsTombstone reports whether b is the Tombstone.
func IsTombstone(b []byte) bool { return string(b) == string(Tombstone) }

// Format is how sessions are stored: codec, optional sealing, key prefix
// (part of what a sealed blob is bound to) and size bound.
type Format struct {
	Codec     codec.Codec
	Sealer    codec.Sealer // nil: stored in the clear
	KeyPrefix string
	MaxBytes  int
}

// AAD is what a sealed blob of the session base is bound to (the Sealer's
// additional authenticated data): KeyPrefix + base, unambiguous since a
// base is 32 hex chars. A blob copied under another session's key, or
// into another app with the same sealing key, then does not open. The
// node is left out: relocation and promotion move a session between nodes
// under the same base, with the same blob.
func AAD(prefix, base string) []byte {
	return []byte(prefix + base)
}

// Encode returns the stored bytes of env (its Codec field is set to the
// format's codec) for the session base. Over MaxBytes it returns them
// with ErrTooLarge (wrapped, with the size); the caller may still want
// their size. Other errors (not encodable, sealing failed) return nil.
func (f Format) Encode(env *codec.Envelope, base string) ([]byte, error) {
	env.Codec = f.Codec.Name()
	blob, err := codec.EncodeEnvelope(env)
	if err != nil {
		return nil, err
	}
	if f.Sealer != nil {
		if blob, err = Seal(f.Sealer, blob, AAD(f.KeyPrefix, base)); err != nil {
			return nil, err
		}
	}
	if len(blob) > f.MaxBytes {
		return blob, f.TooLarge(len(blob))
	}
	return blob, nil
}

// TooLarge is the error for a session of size bytes over MaxBytes.
func (f Format) TooLarge(size int) error {
	return fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, size, f.MaxBytes)
}

// EstimateSize is the size Encode would give env, without sealing: the
// sealed size is estimated with AES-GCM's overhead (another Sealer is
// judged by the save).
func (f Format) EstimateSize(env *codec.Envelope) (int, error) {
	env.Codec = f.Codec.Name()
	blob, err := codec.EncodeEnvelope(env)
	if err != nil {
		return 0, err
	}
	size := len(blob)
	if f.Sealer != nil {
		size += codec.SealOverhead
	}
	return size, nil
}

// Decode opens stored bytes of the session base. Bytes over MaxBytes
// (gomsm never writes them: not worth decoding), bytes that do not open
// or decode, and envelopes of another codec are corrupt (codec.ErrCorrupt,
// wrapped). A Tombstone is not an envelope: check IsTombstone first.
func (f Format) Decode(value []byte, base string) (*codec.Envelope, error) {
	var err error
	if len(value) > f.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, over MaxSessionBytes (%d)", codec.ErrCorrupt, len(value), f.MaxBytes)
	}
	if f.Sealer != nil {
		if value, err = f.Sealer.Open(value, AAD(f.KeyPrefix, base)); err != nil {
			return nil, err
		}
	}
	env, err := codec.DecodeEnvelope(value)
	if err != nil {
		return nil, err
	}
	if env.Codec != f.Codec.Name() {
		return nil, fmt.Errorf("%w: stored with codec %q, configured %q", codec.ErrCorrupt, env.Codec, f.Codec.Name())
	}
	return env, nil
}

// Marshal is c.Marshal(v) with a panic (a user's MarshalCBOR, say) turned
// into an error: encoding runs with session locks held, and a panic there
// must not leave them locked.
func Marshal(c codec.Codec, v any) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("core: encoding %T panicked: %v", v, p)
		}
	}()
	return c.Marshal(v)
}

// Seal is sl.Seal with a panic turned into an error (see Marshal).
func Seal(sl codec.Sealer, b, aad []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("core: sealing panicked: %v", p)
		}
	}()
	return sl.Seal(b, aad)
}
