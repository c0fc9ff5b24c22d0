// Package message encodes and decodes the structured messages of the 'm'
// channel (CBOR maps of byte strings). It is apart from internal/wire so
// that the thin chg client, which never asks for messages, does not link
// the CBOR library and pay its package initialisation.
package message

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Types of the messages.
const (
	Status  = "status"
	Warning = "warning"
	Error   = "error"
)

var cborMode = func() cbor.EncMode {
	m, err := cbor.CanonicalEncOptions().EncMode()
	if err != nil {
		panic(err) // static options: cannot fail
	}
	return m
}()

// Encode encodes a structured message as a CBOR map whose keys and
// values are byte strings, as Mercurial's clients expect.
func Encode(typ, data string) ([]byte, error) {
	m := map[cbor.ByteString]cbor.ByteString{
		"type": cbor.ByteString(typ),
		"data": cbor.ByteString(data),
	}
	b, err := cborMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding message: %w", err)
	}
	return b, nil
}

// Decode decodes an 'm' payload into its fields.
func Decode(p []byte) (map[string]string, error) {
	var m map[cbor.ByteString]cbor.ByteString
	if err := cbor.Unmarshal(p, &m); err != nil {
		return nil, fmt.Errorf("decoding message: %w", err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out, nil
}
