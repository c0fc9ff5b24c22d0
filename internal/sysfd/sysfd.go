//go:build unix

// Package sysfd holds the descriptor calls whose spelling differs between
// the Unixes cmdsrv runs on: sockets and accepted connections that are
// close-on-exec from the start, dup2, and descriptors received with
// SCM_RIGHTS. Linux and FreeBSD set close-on-exec atomically (SOCK_CLOEXEC,
// accept4, MSG_CMSG_CLOEXEC); macOS has none of these, so there the flag
// is set right after the call, under syscall.ForkLock where the descriptor
// is ours alone to create (as the net package does), so that no concurrent
// exec inherits it.
package sysfd
