// Package chgclient is a Go implementation of the chg thin client: it hands
// a command line to a warm chgunix server (cmdsrv's, or Mercurial's) with
// the caller's stdio descriptors, directory, umask and environment, follows
// the server's validate instructions, serves its system and pager requests,
// forwards signals, and starts the server when none answers.
//
// cmdsrv.Program uses it for its client mode (CMDSRV_CLIENT=auto), so that
// every cmdsrv application is its own chg.
package chgclient
