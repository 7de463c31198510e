package codec_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/gomsm/msm/codec"
)

func ExampleNewAESGCM() {
	// In production, load keys from a secret store; here: fresh random ones.
	oldKey, newKey := make([]byte, 32), make([]byte, 32)
	rand.Read(oldKey)
	rand.Read(newKey)

	blob, _ := codec.EncodeEnvelope(&codec.Envelope{Codec: "cbor", Version: 1,
		Attributes: map[string][]byte{"user": []byte("ada")}})

	// core binds each blob to its KeyPrefix and session base id.
	aad := []byte("shop:" + "0123456789abcdef0123456789abcdef")

	// Before the rotation every instance seals with oldKey.
	before, err := codec.NewAESGCM(oldKey)
	if err != nil {
		panic(err)
	}
	sealed, _ := before.Seal(blob, aad)
	fmt.Println("overhead:", len(sealed)-len(blob), "plain visible:", bytes.Contains(sealed, []byte("ada")))

	// Rotation: the new key goes first (it seals), the old one stays so
	// that sessions written before the rotation still open.
	during, _ := codec.NewAESGCM(newKey, oldKey)
	plain, err := during.Open(sealed, aad)
	fmt.Println("old blob opens:", err == nil && bytes.Equal(plain, blob))

	// Once every old session has expired, the old key goes.
	after, _ := codec.NewAESGCM(newKey)
	_, err = after.Open(sealed, aad)
	fmt.Println("without the old key:", errors.Is(err, codec.ErrCorrupt))

	// The blob does not open for another session, even with the right key.
	_, err = during.Open(sealed, []byte("shop:"+"ffffffffffffffffffffffffffffffff"))
	fmt.Println("under another session's key:", errors.Is(err, codec.ErrCorrupt))

	// Altered bytes never open.
	resealed, _ := during.Seal(blob, aad)
	resealed[len(resealed)-1] ^= 1
	_, err = after.Open(resealed, aad)
	fmt.Println(err)
	// Output:
	// overhead: 30 plain visible: false
	// old blob opens: true
	// without the old key: true
	// under another session's key: true
	// codec: corrupt session envelope: sealed blob fails authentication (altered, sealed with another key, or stored under another session's key)
}
