package pipe

import "golang.org/x/sys/unix"

// pipeBufferSize is what growPipe asks for; unprivileged processes may
// get up to /proc/sys/fs/pipe-max-size (1 MiB by default).
const pipeBufferSize = 1 << 20

func growPipe(fd int) { _, _ = unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, pipeBufferSize) }
