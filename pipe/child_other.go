//go:build !unix

package pipe

import (
	"errors"
	"io"

	"github.com/cmdsrv/cmdsrv/internal/session"
)

// Child is what a supervised pipe server's child was handed by its
// parent. There are no supervisors here: the pipe server is one process.
type Child struct{}

// IsChild is false here.
func IsChild() bool { return false }

// TakeChild returns nil, nil here.
func TakeChild() (*Child, error) { return nil, nil }

// Spare is false here.
func (c *Child) Spare() bool { return false }

// CaptureStartup captures nothing here.
func (c *Child) CaptureStartup() (release func(), err error) { return func() {}, nil }

func (c *Child) begin(*session.Session, io.Reader, io.Writer) (io.Reader, io.Writer, error) {
	return nil, nil, errors.New("pipe: no supervised children on this platform")
}

// helloIDs are 0, 0 here: every hello names this process.
func helloIDs() (pid, pgid int) { return 0, 0 }
