// Package protocol is what an application of cmdsrv implements and uses: a
// Handler runs one command, described by a Request (arguments, directory,
// environment, configuration, the client's streams and a UI for prompts,
// messages, shell commands and the pager).
//
// A Handler that implements Reusable lets a unix worker serve several
// clients in turn; one that implements Prewarmer prepares the warm state
// that Request.UseKey reported before a client asks for it. The wire format
// of Mercurial's command-server protocol and the session that speaks it are
// internal to the module: cmdsrv.Program serves a Handler in every mode.
package protocol
