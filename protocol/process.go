package protocol

// ClientProcess is implemented by Handlers written as plain programs,
// which take their arguments, directory, environment and streams from the
// process (os.Args, os.Getwd, os.Getenv, os.Stdout, fmt.Println, a child
// process's inherited stdio) rather than from the Request. When
// ClientProcess returns true, cmdsrv makes the process's state the
// client's while each command runs, in every mode:
//
//   - a direct run's process is the user's already;
//   - under chg (and cmdsrv-chg, the own client mode) the worker has the
//     client's descriptors, directory, environment and umask already;
//     os.Args is set to the command's;
//   - in a pipe server and a unix worker, fds 0-2, the working
//     directory, the environment and os.Args become the request's for
//     the command and are put back after it: what the command writes to
//     fd 1 and 2 reaches the client on 'o' and 'e', complete before the
//     command's result, and fd 0 reads the client's 'I' channel once
//     something blocks reading it (Linux; elsewhere fd 0 reads end of
//     input). The umask is the server's, put back after the command.
//
// A process has one set of these, so such commands run one at a time in
// a process, and os.Args[0] is the server's. The default, for Handlers
// that do not implement it, is false: a Handler written against the
// Request needs none of it, and lending costs every command a few dozen
// system calls (some 40 µs on a pipe server's round trip of 30 µs,
// BenchmarkClientProcess in package pipe). Request.ClientProcess tells a
// command whether it runs so.
type ClientProcess interface {
	ClientProcess() bool
}

// WantsClientProcess reports whether h asks for the client's process
// state.
func WantsClientProcess(h Handler) bool {
	c, ok := h.(ClientProcess)
	return ok && c.ClientProcess()
}
