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
type Sealer interface {
	// Seal returns the encrypted and authenticated form of plain. plain is
	// not modified, and the result never shares memory with it.
	Seal(plain []byte) ([]byte, error)

	// Open returns the plain bytes that Seal produced. Bytes that Seal did
	// not produce with one of the Sealer's keys (altered, truncated, plain,
	// or sealed with a key the Sealer does not hold) give an error that
	// wraps [ErrCorrupt], never a panic.
	Open(sealed []byte) ([]byte, error)
}

// Layout of a blob sealed by NewAESGCM:
//
//	sealVersion (1 byte) | key id (1 byte) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)
//
// The first two bytes are authenticated as additional data.
const (
	sealVersion   = 0xA1
	sealNonceLen  = 12
	sealHeaderLen = 2 + sealNonceLen
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

// Seal encrypts plain with the first key.
func (s *aesGCM) Seal(plain []byte) ([]byte, error) {
	k := s.keys[0]
	var head [sealHeaderLen]byte
	head[0], head[1] = sealVersion, k.id
	rand.Read(head[2:]) // never fails (crypto/rand panics rather than return short)
	out := make([]byte, 0, sealHeaderLen+len(plain)+k.aead.Overhead())
	out = append(out, head[:]...)
	// The output must not overlap the additional data, hence the copy.
	return k.aead.Seal(out, head[2:], plain, head[:2]), nil
}

// Open decrypts sealed with the key that sealed it.
func (s *aesGCM) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < SealOverhead {
		return nil, fmt.Errorf("%w: sealed blob of %d bytes is shorter than the %d-byte overhead", ErrCorrupt, len(sealed), SealOverhead)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: not a sealed blob (first byte %#x, want %#x)", ErrCorrupt, sealed[0], sealVersion)
	}
	nonce, body := sealed[2:sealHeaderLen], sealed[sealHeaderLen:]
	tried := false
	for _, k := range s.keys {
		if k.id != sealed[1] {
			continue
		}
		tried = true
		if plain, err := k.aead.Open(nil, nonce, body, sealed[:2]); err == nil {
			return plain, nil
		}
	}
	if !tried {
		return nil, fmt.Errorf("%w: sealed with an unknown key (id %#x)", ErrCorrupt, sealed[1])
	}
	return nil, fmt.Errorf("%w: sealed blob fails authentication (altered, or sealed with another key)", ErrCorrupt)
}
