// Package codec turns gomsm session data into bytes and back.
//
// It has two layers. A [Codec] encodes one attribute value; [CBOR] (the
// default), [Gob] and [JSON] are built in, and [Register] adds more. An
// [Envelope] holds one whole session: its timestamps, its save counter and
// its attributes, each encoded on its own so that a typed read such as
// core's GetAs[T] can decode an attribute late, straight into T.
// [EncodeEnvelope] and [DecodeEnvelope] turn an Envelope into the blob that
// gomsm stores in memcached, and [AttributesHash] tells core whether the
// attributes changed since the last backup.
//
// The envelope is always deterministic CBOR behind a 4-byte header ("MSM"
// and [FormatVersion]), whatever the attribute codec. Bytes that do not
// decode, including a blob written by a newer format version, give an error
// that wraps [ErrCorrupt]; decoding never panics.
package codec
