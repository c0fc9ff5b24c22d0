// Package chg serves Mercurial's chg thin client: the per-connection
// extensions of `--cmdserver chgunix` (attachio, chdir, setenv, setumask2,
// setprocname, validate and the 'S' channel for system and pager), and
// Server, the socket life cycle chg expects from the server it starts
// (hashed socket name, symlinked start-up address, exit when the socket is
// taken over or the server has been idle too long).
//
// The extensions change process-wide state (cwd, environment, umask, fds
// 0-2), so they serve only in a process that serves a single client at a
// time: a unixfork worker of a chg Server, which finds them through the
// Server's WorkerData (linking this package in registers their decoder).
package chg
