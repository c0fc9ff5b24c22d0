// Package session implements the channel protocol of Mercurial's command
// server, as cmdsrv speaks it: frames, blocks, the hello message, the input
// channels, structured messages, and the per-connection Session that reads
// requests and runs an application's protocol.Handler for each runcommand.
//
// Every service (pipe, unixfork, chg) serves its connections through a
// Session; the services differ only in how they obtain a connection and in
// the extra commands they register with Session.Commands.
package session
