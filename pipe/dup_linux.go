package pipe

import "golang.org/x/sys/unix"

func dup2(from, to int) error { return unix.Dup3(from, to, 0) }

// pipeBufferSize is what growPipe asks for; unprivileged processes may
// get up to /proc/sys/fs/pipe-max-size (1 MiB by default).
const pipeBufferSize = 1 << 20

func growPipe(fd int) { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, pipeBufferSize) }
