// Package reqhook lets the session set what a protocol.Request keeps
// unexported, so that package protocol shows an application only the
// fields it uses. It imports nothing of the module: package protocol
// fills it in at init, package session calls it.
package reqhook

// SetUseKey makes req.UseKey call f; req is a *protocol.Request. Package
// protocol sets it in its init.
var SetUseKey func(req any, f func(key string))
