// Package daemon runs a socket service away from the terminal that started
// it, the way Mercurial's `serve --daemon` does. Run holds the three roles
// behind one function that takes a serve callback and a ready callback: the
// parent re-executes the program as a detached child and returns once the
// child's socket accepts connections (Spawn); the child, recognised by its
// --daemon-postexec instructions, puts itself in a new session, changes
// directory, points its stdio at /dev/null or the log file and removes the
// lock file that tells the parent it is ready (Detach); a foreground
// service only writes its pid file. The package also keeps the server's
// log file (Mercurial's line format, rotation, event filter) and picks up a
// systemd-activated socket. It takes plain values (paths, sizes, the
// command line to re-execute) and imports nothing of cmdsrv's.
//
// The package never decides when to stop a server: shutdown belongs to
// whoever bound the socket.
//
// It is for unix systems only: elsewhere (Windows) it is empty, as the
// detached child, file ownership checks and socket activation it rests on
// are unix's.
package daemon
