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

	// Before the rotation every instance seals with oldKey.
	before, err := codec.NewAESGCM(oldKey)
	if err != nil {
		panic(err)
	}
	sealed, _ := before.Seal(blob)
	fmt.Println("overhead:", len(sealed)-len(blob), "plain visible:", bytes.Contains(sealed, []byte("ada")))

	// Rotation: the new key goes first (it seals), the old one stays so
	// that sessions written before the rotation still open.
	during, _ := codec.NewAESGCM(newKey, oldKey)
	plain, err := during.Open(sealed)
	fmt.Println("old blob opens:", err == nil && bytes.Equal(plain, blob))

	// Once every old session has expired, the old key goes.
	after, _ := codec.NewAESGCM(newKey)
	_, err = after.Open(sealed)
	fmt.Println("without the old key:", errors.Is(err, codec.ErrCorrupt))

	// Altered bytes never open.
	resealed, _ := during.Seal(blob)
	resealed[len(resealed)-1] ^= 1
	_, err = after.Open(resealed)
	fmt.Println(err)
	// Output:
	// overhead: 30 plain visible: false
	// old blob opens: true
	// without the old key: true
	// codec: corrupt session envelope: sealed blob fails authentication (altered, or sealed with another key)
}
