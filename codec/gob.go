package codec

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Gob is the [Codec] named "gob", using encoding/gob.
//
// Each value is sent inside a struct with a single interface field, so the
// bytes name the value's concrete type. Like every gob interface value,
// that type must be registered with gob.Register (under the same name on
// every node) before Marshal or Unmarshal: do it in an init function for
// each of your own types, for example gob.Register(User{}). The package
// registers map[string]any, []any, map[string]string, map[string]int,
// time.Time and time.Duration; gob itself knows the basic types and their
// slices.
//
// Unmarshal into a *any stores the registered concrete type. Unmarshal into
// a pointer to T stores the decoded value when it is assignable to T, also
// through one level of pointer either way (a registered *User decodes into
// a User and back), and otherwise returns an error naming both types. Gob is
// not hardened against hostile input, so use it only for data gomsm wrote.
var Gob Codec = gobCodec{}

type gobCodec struct{}

// gobValue is what Gob puts on the wire: an interface field carries the
// concrete type's registered name along with the value.
type gobValue struct {
	V any
}

func init() {
	for _, v := range []any{
		map[string]any(nil), []any(nil), map[string]string(nil), map[string]int(nil),
		time.Time{}, time.Duration(0),
	} {
		registerGob(v)
	}
}

// registerGob is gob.Register that tolerates a type someone already
// registered under another name: it still encodes and decodes then.
func registerGob(v any) {
	defer func() { _ = recover() }()
	gob.Register(v)
}

func (gobCodec) Name() string { return "gob" }

func (gobCodec) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&gobValue{V: v}); err != nil {
		return nil, fmt.Errorf("codec: gob: %w", err)
	}
	return buf.Bytes(), nil
}

func (gobCodec) Unmarshal(data []byte, v any) error {
	dst := reflect.ValueOf(v)
	if dst.Kind() != reflect.Pointer || dst.IsNil() {
		return fmt.Errorf("codec: gob: Unmarshal needs a non-nil pointer, got %T", v)
	}
	r := bytes.NewReader(data)
	var w gobValue
	if err := gob.NewDecoder(r).Decode(&w); err != nil {
		return fmt.Errorf("codec: gob: %w", err)
	}
	if r.Len() != 0 {
		return errors.New("codec: gob: trailing data after value")
	}
	return assign(dst.Elem(), w.V)
}

// assign stores src in dst if its type allows, dereferencing or taking the
// address of src once if that makes it fit.
func assign(dst reflect.Value, src any) error {
	if src == nil {
		dst.SetZero()
		return nil
	}
	sv := reflect.ValueOf(src)
	st, dt := sv.Type(), dst.Type()
	switch {
	case st.AssignableTo(dt):
		dst.Set(sv)
	case st.Kind() == reflect.Pointer && st.Elem().AssignableTo(dt):
		if sv.IsNil() {
			dst.SetZero()
		} else {
			dst.Set(sv.Elem())
		}
	case dt.Kind() == reflect.Pointer && st.AssignableTo(dt.Elem()):
		p := reflect.New(dt.Elem())
		p.Elem().Set(sv)
		dst.Set(p)
	default:
		return fmt.Errorf("codec: gob: cannot store a %s in a %s", st, dt)
	}
	return nil
}
