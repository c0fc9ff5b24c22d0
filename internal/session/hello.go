package session

import "github.com/cmdsrv/cmdsrv/internal/wire"

// Hello is the greeting a server sends on 'o' when a session opens.
type Hello = wire.Hello

// ParseHello parses a hello payload. Unknown fields are ignored, as clients
// must; a line without ": " ends the fields (chg's rule).
func ParseHello(p []byte) (Hello, error) { return wire.ParseHello(p) }
