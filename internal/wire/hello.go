package wire

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Hello is the greeting a server sends on 'o' when a session opens.
type Hello struct {
	Capabilities    []string
	Encoding        string
	MessageEncoding string // empty unless ui.message-output=channel
	PID             int
	PGID            int
}

// Marshal renders the hello as Mercurial does: one "key: value" per line,
// capabilities sorted, no newline after the last line.
func (h Hello) Marshal() []byte {
	caps := append([]string(nil), h.Capabilities...)
	sort.Strings(caps)
	var b bytes.Buffer
	fmt.Fprintf(&b, "capabilities: %s\nencoding: %s\n", strings.Join(caps, " "), h.Encoding)
	if h.MessageEncoding != "" {
		fmt.Fprintf(&b, "message-encoding: %s\n", h.MessageEncoding)
	}
	fmt.Fprintf(&b, "pid: %d\npgid: %d", h.PID, h.PGID)
	return b.Bytes()
}

// ParseHello parses a hello payload. Unknown fields are ignored, as clients
// must; a line without ": " ends the fields (chg's rule).
func ParseHello(p []byte) (Hello, error) {
	var h Hello
	for _, line := range strings.Split(string(p), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			break
		}
		var err error
		switch k {
		case "capabilities":
			h.Capabilities = strings.Fields(v)
		case "encoding":
			h.Encoding = v
		case "message-encoding":
			h.MessageEncoding = v
		case "pid":
			h.PID, err = strconv.Atoi(v)
		case "pgid":
			h.PGID, err = strconv.Atoi(v)
		}
		if err != nil {
			return h, fmt.Errorf("parsing hello field %s: %w", k, err)
		}
	}
	if h.Capabilities == nil {
		return h, fmt.Errorf("hello has no capabilities: %q", p)
	}
	return h, nil
}

// Has reports whether the hello advertises capability name.
func (h Hello) Has(name string) bool {
	for _, c := range h.Capabilities {
		if c == name {
			return true
		}
	}
	return false
}
