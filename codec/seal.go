package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Sealer encrypts and authenticates the blob gomsm stores in memcached, so
// that whoever can reach memcached can neither read session contents nor
// forge or alter a session without the key. Implementations must be safe
// for concurrent use.
//
// Both methods take additional authenticated data: bytes that are not
// stored in the blob but are bound to it, so that the blob opens only with
// the same aad it was sealed with. gomsm passes the session's KeyPrefix and
// base id (the random part of the session id), so a blob copied under
// another session's key, or into another application that shares the
// sealing key, does not open.
type Sealer interface {
	// Seal returns the encrypted and authenticated form of plain, bound to
	// aad. Neither plain nor aad is modified, and the result shares memory
	// with neither.
	Seal(plain, aad []byte) ([]byte, error)

	// Open returns the plain bytes that Seal produced with the same aad.
	// Bytes that Seal did not produce with one of the Sealer's keys and
	// this aad (altered, truncated, plain, sealed for another aad, or
	// sealed with a key the Sealer does not hold) give an error that wraps
	// [ErrCorrupt], never a panic. sealed should not be modified: in
	// non-sticky mode gomsm keeps the bytes it read, to tell whether the
	// next read of the session brings the same ones (an Open that
	// decrypts in place only costs those comparisons their hits). Bytes
	// opened once are not opened again while they are unchanged there, so
	// a key the Sealer stops accepting at run time stops a session's
	// reads when the session is next written (sealed with the current
	// key) or the instance restarts.
	Open(sealed, aad []byte) ([]byte, error)
}

// Layout of a blob sealed by NewAESGCM:
//
//	sealVersion (1 byte) | key id (1 byte) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)
//
// The GCM additional data is the first two bytes followed by the caller's
// aad.
const (
	sealVersion = 0xA2
	// sealVersionUnbound marked blobs of the first layout, whose only
	// additional data was the 2-byte header. They no longer open.
	sealVersionUnbound = 0xA1
	sealNonceLen       = 12
	sealHeaderLen      = 2 + sealNonceLen
	// SealOverhead is how many bytes the AES-GCM Sealer adds to each blob:
	// a 2-byte header, the 12-byte nonce and the 16-byte tag.
	SealOverhead = sealHeaderLen + 16
)

type aesGCMKey struct {
	id   byte
	aead cipher.AEAD
}

// aesGCM is the Sealer returned by NewAESGCM.
type aesGCM struct {
	keys []aesGCMKey // keys[0] seals
}

// NewAESGCM returns a [Sealer] that encrypts with AES-GCM (AES-128, -192
// or -256 for keys of 16, 24 or 32 bytes) under a random 12-byte nonce per
// Seal. It needs at least one key; keys must differ.
//
// The first key seals; every key opens. That is how keys are rotated
// without logging anyone out: deploy NewAESGCM(newKey, oldKey) everywhere,
// keep oldKey in the list until every session written with it has been
// rewritten or has expired (MaxInactive, or MaxLifetime when set), then
// drop it. Each blob carries a one-byte id derived from its key, so Open
// tries only the keys with that id (in practice one).
//
// With random nonces, one key should seal at most 2^32 blobs (NIST SP
// 800-38D): rotate keys well before that many session writes.
//
// Blobs sealed by gomsm before blobs were bound to their key (first byte
// 0xA1, bound to no aad) no longer open with any key: sessions written
// before that upgrade start over.
//
// Keys are secrets of the same weight as the sessions they protect: load
// them from a secret store, never from source code; generate them with
// crypto/rand. NewAESGCM copies them.
func NewAESGCM(keys ...[]byte) (Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: NewAESGCM needs at least one key")
	}
	s := &aesGCM{keys: make([]aesGCMKey, 0, len(keys))}
	for i, k := range keys {
		switch len(k) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("codec: NewAESGCM: key %d has %d bytes, want 16, 24 or 32", i, len(k))
		}
		for j := range i {
			if subtle.ConstantTimeCompare(k, keys[j]) == 1 {
				return nil, fmt.Errorf("codec: NewAESGCM: key %d repeats key %d", i, j)
			}
		}
		block, err := aes.NewCipher(k) // copies the key schedule, not k
		if err != nil {
			return nil, fmt.Errorf("codec: NewAESGCM: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: NewAESGCM: key %d: %w", i, err)
		}
		s.keys = append(s.keys, aesGCMKey{id: keyID(k), aead: aead})
	}
	return s, nil
}

// keyID is a one-byte tag of k that lets Open skip the keys that cannot
// have sealed a blob. It reveals 8 bits of a hash of the key, nothing
// usable.
func keyID(k []byte) byte {
	h := sha256.New()
	h.Write([]byte("gomsm codec seal key id\x00"))
	h.Write(k)
	return h.Sum(nil)[0]
}

// additionalData is the GCM additional data of a blob: its 2-byte header,
// then aad.
func additionalData(head []byte, aad []byte) []byte {
	ad := make([]byte, 0, 2+len(aad))
	return append(append(ad, head[:2]...), aad...)
}

// Seal encrypts plain with the first key, bound to aad.
func (s *aesGCM) Seal(plain, aad []byte) ([]byte, error) {
	k := s.keys[0]
	var head [sealHeaderLen]byte
	head[0], head[1] = sealVersion, k.id
	rand.Read(head[2:]) // never fails (crypto/rand panics rather than return short)
	out := make([]byte, 0, sealHeaderLen+len(plain)+k.aead.Overhead())
	out = append(out, head[:]...)
	return k.aead.Seal(out, head[2:], plain, additionalData(head[:], aad)), nil
}

// Open decrypts sealed with the key that sealed it, if it was bound to aad.
func (s *aesGCM) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < SealOverhead {
		return nil, fmt.Errorf("%w: sealed blob of %d bytes is shorter than the %d-byte overhead", ErrCorrupt, len(sealed), SealOverhead)
	}
	switch sealed[0] {
	case sealVersion:
	case sealVersionUnbound:
		return nil, fmt.Errorf("%w: sealed in the older layout that is not bound to its key (first byte %#x): no longer accepted", ErrCorrupt, sealed[0])
	default:
		return nil, fmt.Errorf("%w: not a sealed blob (first byte %#x, want %#x)", ErrCorrupt, sealed[0], sealVersion)
	}
	nonce, body := sealed[2:sealHeaderLen], sealed[sealHeaderLen:]
	ad := additionalData(sealed, aad)
	tried := false
	for _, k := range s.keys {
		if k.id != sealed[1] {
			continue
		}
		tried = true
		if plain, err := k.aead.Open(nil, nonce, body, ad); err == nil {
			return plain, nil
		}
	}
	if !tried {
		return nil, fmt.Errorf("%w: sealed with an unknown key (id %#x)", ErrCorrupt, sealed[1])
	}
	return nil, fmt.Errorf("%w: sealed blob fails authentication (altered, sealed with another key, or stored under another session's key)", ErrCorrupt)
}
