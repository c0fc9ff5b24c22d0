// Package daemon runs a socket service of cmdsrv away from the terminal that
// started it, the way Mercurial's `serve --daemon` does: the parent
// re-executes itself as a detached child and returns once the child's
// socket accepts connections (Spawn); the child, recognised by its
// --daemon-postexec instructions, puts itself in a new session, changes
// directory, points its stdio at /dev/null or the log file and removes the
// lock file that tells the parent it is ready (Detach). The package also
// writes pid files, keeps the server's log file (Mercurial's line format,
// rotation, event filter) and picks up a systemd-activated socket.
//
// The package never decides when to stop a server: shutdown belongs to
// whoever bound the socket.
package daemon
