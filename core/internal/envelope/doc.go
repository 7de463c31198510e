// Package envelope turns a session into the bytes gomsm stores in
// memcached and back, the same way for sticky and non-sticky mode: the
// codec's envelope (codec.EncodeEnvelope), sealed when a Sealer is
// configured (bound to KeyPrefix + base), and bounded by MaxSessionBytes
// on the way out (ErrTooLarge) and on the way in (a larger blob is
// corrupt without being decoded). It also knows the tombstone, the value
// that replaces the copy of an invalidated or renamed session.
//
// It knows nothing of the Manager: counting and logging stay with the
// caller. It imports only the codec module.
package envelope
