package codec

import "encoding/json"

// JSON is the [Codec] named "json", using encoding/json.
//
// Decoding into a pointer to T follows encoding/json. Decoding into a *any
// gives encoding/json's usual types: float64 for every number, string
// (also for a time.Time, which is written in RFC 3339), bool, nil, []any and
// map[string]any. Values that JSON cannot represent, such as NaN, channels
// or maps whose keys are not strings, integers or TextMarshalers, fail to
// Marshal.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
