// Package chgclient is a Go implementation of the chg thin client: it hands
// a command line to a warm chgunix server (cmdsrv's, or Mercurial's) with
// the caller's stdio descriptors, directory, umask and environment, follows
// the server's validate instructions, serves its system and pager requests,
// forwards signals, and starts the server when none answers.
//
// Run is the client; App adds what an application's client does around it
// (its socket, the server command, CMDSRV_DEBUG lines, the messages of a
// lost command). Two clients are built on App and share one server:
//
//   - the own client mode of cmdsrv.Program (CMDSRV_CLIENT=auto), which
//     runs inside the application's binary: use it when the application's
//     start-up cost lives in its Handler's constructor;
//   - the thin client cmd/cmdsrv-chg, a separate small binary: use it (or
//     Mercurial's chg) when the cost lives in package initialisation, which
//     the own client mode pays on every call because Go runs every init
//     before main. For an application with 30 ms of package init, a call
//     takes about 35 ms directly or in the own client mode, and a few
//     milliseconds through cmdsrv-chg, near chg's time (README.md, "Which
//     client").
//
// The package imports only the standard library, x/sys/unix and the
// protocol's frames (internal/wire), not package protocol with its logger
// and CBOR codec, so that a client built on it starts like a small Go
// program.
package chgclient
