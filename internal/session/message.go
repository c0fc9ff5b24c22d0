package session

import (
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// Message types of the 'm' channel.
const (
	MessageStatus  = "status"
	MessageWarning = "warning"
	MessageError   = "error"
)

// supportedMessageEncodings lists the 'm' encodings this package can write.
var supportedMessageEncodings = []string{"cbor"}

var cborMode = func() cbor.EncMode {
	m, err := cbor.CanonicalEncOptions().EncMode()
	if err != nil {
		panic(err) // static options: cannot fail
	}
	return m
}()

// ChooseMessageEncoding picks the first name of the configured list (comma
// or space separated) that this package supports.
func ChooseMessageEncoding(list string) (string, error) {
	names := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' })
	for _, n := range names {
		for _, s := range supportedMessageEncodings {
			if n == s {
				return n, nil
			}
		}
	}
	return "", fmt.Errorf("no supported message encodings: %s", strings.Join(names, " "))
}

// ChooseMessageEncodingFor returns the 'm' encoding a server with cfg
// announces: "" unless ui.message-output=channel, else the first supported
// name of cmdserver.message-encodings (default "cbor").
func ChooseMessageEncodingFor(cfg *protocol.Config) (string, error) {
	if cfg.Get("ui.message-output", "stdio") != "channel" {
		return "", nil
	}
	return ChooseMessageEncoding(cfg.Get("cmdserver.message-encodings", "cbor"))
}

// EncodeMessage encodes a structured message as a CBOR map whose keys and
// values are byte strings, as Mercurial's clients expect.
func EncodeMessage(typ, data string) ([]byte, error) {
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

// DecodeMessage decodes an 'm' payload into its fields.
func DecodeMessage(p []byte) (map[string]string, error) {
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
