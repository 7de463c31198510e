package codec_test

import (
	"fmt"
	"time"

	"github.com/gomsm/msm/codec"
)

func ExampleCodec() {
	type Cart struct {
		Items []string
		Total int
	}
	data, err := codec.CBOR.Marshal(Cart{Items: []string{"tea", "cake"}, Total: 7})
	if err != nil {
		panic(err)
	}

	// Into the value's own type, as core's GetAs[T] does.
	var cart Cart
	if err := codec.CBOR.Unmarshal(data, &cart); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", cart)

	// Into an any, when the type is not known.
	var v any
	if err := codec.CBOR.Unmarshal(data, &v); err != nil {
		panic(err)
	}
	fmt.Printf("%T %v\n", v, v)

	// The envelope stores the codec's name; find the codec by it.
	c, ok := codec.ByName("json")
	fmt.Println(c.Name(), ok)
	// Output:
	// {Items:[tea cake] Total:7}
	// map[string]interface {} map[Items:[tea cake] Total:7]
	// json true
}

func ExampleEncodeEnvelope() {
	name, _ := codec.CBOR.Marshal("Ada")
	visits, _ := codec.CBOR.Marshal(3)
	created := time.Date(2025, 11, 26, 14, 0, 0, 0, time.UTC)
	data, err := codec.EncodeEnvelope(&codec.Envelope{
		Codec:        codec.CBOR.Name(),
		Version:      1,
		CreatedAt:    created,
		LastAccessed: created.Add(time.Minute),
		MaxInactive:  30 * time.Minute,
		Attributes:   map[string][]byte{"name": name, "visits": visits},
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", data[:4])

	e, err := codec.DecodeEnvelope(data)
	if err != nil {
		panic(err) // errors.Is(err, codec.ErrCorrupt)
	}
	c, _ := codec.ByName(e.Codec)
	var who string
	if err := c.Unmarshal(e.Attributes["name"], &who); err != nil {
		panic(err)
	}
	fmt.Println(e.Version, e.LastAccessed, e.MaxInactive, who)

	_, err = codec.DecodeEnvelope([]byte("not a session"))
	fmt.Println(err)
	// Output:
	// "MSM\x01"
	// 1 2025-11-26 14:01:00 +0000 UTC 30m0s Ada
	// codec: corrupt session envelope: bad magic "not"
}

func ExampleAttributesHash() {
	a := map[string][]byte{"user": []byte("ada"), "cart": []byte("tea")}
	b := map[string][]byte{"cart": []byte("tea"), "user": []byte("ada")}
	fmt.Println(codec.AttributesHash(a) == codec.AttributesHash(b))
	b["cart"] = []byte("cake")
	fmt.Println(codec.AttributesHash(a) == codec.AttributesHash(b))
	// Output:
	// true
	// false
}
