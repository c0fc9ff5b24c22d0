// Package wire holds the pieces of the command-server protocol that a
// client needs: frames, blocks, the hello, and running a shell command for
// chg's system requests. It imports nothing beyond the standard library's
// basics, so that a thin client built on it (chgclient, cmd/cmdsrv-chg)
// starts as fast as a small Go program; package protocol builds the server
// side on top of it and re-exports what it shares.
package wire
