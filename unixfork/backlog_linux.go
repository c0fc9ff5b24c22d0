package unixfork

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Values of linux/unix_diag.h, which x/sys/unix does not carry.
const (
	udiagShowRQLen = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen  = 4    // UNIX_DIAG_RQLEN
	unixDiagMsgLen = 16   // sizeof(struct unix_diag_msg)
)

// backlogLen returns how many connections wait in the accept queue of the
// listening unix socket f, asked of the kernel over NETLINK_SOCK_DIAG (the
// queue length ss(8) shows as Recv-Q). No privilege is needed.
func backlogLen(f *os.File) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat of the listening socket: %w", err)
	}
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("opening sock_diag: %w", err)
	}
	defer unix.Close(s)
	if err := unix.Sendto(s, backlogRequest(uint32(st.Ino)), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("asking sock_diag: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(s, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("reading sock_diag: %w", err)
	}
	return parseBacklogReply(buf[:n])
}

// backlogRequest is a netlink message asking for the receive queue length
// of the unix socket with inode ino: a nlmsghdr and a unix_diag_req.
func backlogRequest(ino uint32) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+24)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	r := b[unix.NLMSG_HDRLEN:]
	r[0] = unix.AF_UNIX
	ne.PutUint32(r[4:], 1<<10) // udiag_states: TCP_LISTEN
	ne.PutUint32(r[8:], ino)
	ne.PutUint32(r[12:], udiagShowRQLen)
	ne.PutUint32(r[16:], ^uint32(0)) // no cookie to check
	ne.PutUint32(r[20:], ^uint32(0))
	return b
}

// parseBacklogReply decodes the answer: an error message, or a
// unix_diag_msg whose UNIX_DIAG_RQLEN attribute holds the queue length.
func parseBacklogReply(b []byte) (int, error) {
	ne := binary.NativeEndian
	if len(b) < unix.NLMSG_HDRLEN {
		return 0, errors.New("sock_diag: short reply")
	}
	n := int(ne.Uint32(b[0:]))
	if n < unix.NLMSG_HDRLEN || n > len(b) {
		return 0, fmt.Errorf("sock_diag: bad message length %d", n)
	}
	typ := ne.Uint16(b[4:])
	body := b[unix.NLMSG_HDRLEN:n]
	switch typ {
	case unix.NLMSG_ERROR:
		if len(body) < 4 {
			return 0, errors.New("sock_diag: short error")
		}
		return 0, fmt.Errorf("sock_diag: %w", unix.Errno(-int32(ne.Uint32(body))))
	case unix.SOCK_DIAG_BY_FAMILY:
	default:
		return 0, fmt.Errorf("sock_diag: unexpected message type %d", typ)
	}
	if len(body) < unixDiagMsgLen {
		return 0, errors.New("sock_diag: short unix_diag_msg")
	}
	attrs := body[unixDiagMsgLen:]
	for len(attrs) >= 4 {
		alen := int(ne.Uint16(attrs[0:]))
		atyp := ne.Uint16(attrs[2:])
		if alen < 4 || alen > len(attrs) {
			return 0, fmt.Errorf("sock_diag: bad attribute length %d", alen)
		}
		if atyp == unixDiagRQLen {
			if alen < 8 {
				return 0, errors.New("sock_diag: short queue length")
			}
			return int(ne.Uint32(attrs[4:])), nil
		}
		attrs = attrs[min((alen+3)&^3, len(attrs)):]
	}
	return 0, errors.New("sock_diag: no queue length in the reply")
}
