package codec

import (
	"strconv"
	"testing"
)

// TestEncodeEnvelopeRefusesWhatDecodeRejects: an envelope that
// DecodeEnvelope rejects must not be written in the first place, or the
// backup is useless and the session is lost on failover (counted as
// corrupt). More than 65536 attributes fit in 1 MB (about 500 KB here).
func TestEncodeEnvelopeRefusesWhatDecodeRejects(t *testing.T) {
	t.Parallel()
	attrs := make(map[string][]byte, maxAttributes+1)
	for i := range maxAttributes + 1 {
		attrs[strconv.Itoa(i)] = []byte{0xf6}
	}
	if data, err := EncodeEnvelope(&Envelope{Codec: "cbor", Attributes: attrs}); err == nil {
		t.Errorf("EncodeEnvelope accepted %d attributes (%d bytes) that DecodeEnvelope rejects", len(attrs), len(data))
	}
	delete(attrs, "0")
	data, err := EncodeEnvelope(&Envelope{Codec: "cbor", Attributes: attrs})
	if err != nil {
		t.Fatalf("%d attributes: %v", len(attrs), err)
	}
	if e, err := DecodeEnvelope(data); err != nil || len(e.Attributes) != maxAttributes {
		t.Fatalf("%d attributes do not round trip: %v", maxAttributes, err)
	}
}
