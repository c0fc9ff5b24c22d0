package session

import (
	"fmt"
	"strings"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// supportedMessageEncodings lists the 'm' encodings this package can write.
var supportedMessageEncodings = []string{"cbor"}

// chooseMessageEncoding picks the first name of the configured list (comma
// or space separated) that this package supports.
func chooseMessageEncoding(list string) (string, error) {
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
	return chooseMessageEncoding(cfg.Get("cmdserver.message-encodings", "cbor"))
}
