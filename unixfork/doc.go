// Package unixfork serves the command-server protocol on a unix socket with
// one worker process per connection, the Go equivalent of Mercurial's
// fork-per-client `hg serve --cmdserver unix`.
//
// The master (Server) binds the socket and never runs a command itself.
// Workers are re-executions of this binary (/proc/self/exe on Linux,
// os.Executable elsewhere: internal/selfexe), recognised by a cookie in
// the environment (IsWorker) and run by Worker.Serve. A small pool of
// them is started ahead of demand: each builds its Handler (the warm
// state), rehearses one session to itself, reports itself ready over a
// socketpair on fd 3 (SOCK_SEQPACKET; datagrams on macOS), and accepts a client on the listening
// socket it inherited as fd 4, so that a connect reaches a warm process
// with no hand-off. The master only watches the backlog for clients no
// worker is ready to take and starts workers for them. A worker serves one
// client, or up to cmdserver.worker-reuse clients in turn when the Handler
// is protocol.Reusable (the default: 250, with jitter), restoring its
// process state between them.
//
// The pool is dynamic: between a floor and a ceiling of spare workers,
// growing when clients wait and shrinking after a quiet period. It also
// pings idle workers, kills workers that do not start in time or stop
// answering, and asks a worker to close its idle client when others wait
// at cmdserver.max-clients. All of that policy is in policy.go: a pool
// value with an explicit state per worker (starting, ready, busy,
// returning, recycling, stopping, gone) and generation, fed events and
// the time, returning actions. The Server (server.go, proc.go, pool.go)
// carries them out: it binds and watches the backlog, starts and reaps
// the processes, reads their control sockets, runs the pool's timers, and
// answers status requests (status.go). It holds its mutex only to feed
// the pool: sends, answers to clients and log lines happen after.
//
// Control messages on the socketpair are small JSON objects, one per
// packet; see control.go.
package unixfork
