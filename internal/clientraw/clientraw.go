// Package clientraw gives the module's tests raw access to a client.Client
// (a malformed request, the frames that answer it) without making it part
// of package client's API. Package client fills it in at init.
package clientraw

// Send writes raw bytes to the server of c (a *client.Client) without
// reading anything back. Pair it with ReadFrame.
var Send func(c any, raw []byte) error

// ReadFrame reads one frame from the server of c (a *client.Client).
var ReadFrame func(c any) (ch byte, payload []byte, size uint32, err error)
