// Package procstate lends the process's own state to one command at a
// time, for Handlers that ask for it (protocol.ClientProcess) in the modes
// where that state is not already the client's (the pipe server and unix
// workers without chg's attachio): file descriptors 0-2, the working
// directory, the environment, the umask and os.Args become the request's
// while the command runs, and are put back after it.
//
// Descriptors 1 and 2 are pipes whose contents are forwarded to the
// request's stdout and stderr (the 'o' and 'e' channels) while the
// command runs, and drained to the last byte before it is answered.
// Descriptor 0 is a pipe fed from the request's stdin (the 'I' channel),
// but only once something blocks reading it: a client is asked for input
// only by a command that reads it, as the protocol requires (python-hglib
// fails a command that asks for input it was given none for). Only one
// command holds the process at a time: Lend serialises.
package procstate
