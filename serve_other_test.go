//go:build !unix

package cmdsrv

import (
	"bytes"
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// Run for Windows under Wine in CI (.ci/wine/run); no Windows machine
// runs it here.

func TestSocketModesAbortNamingPipe(t *testing.T) {
	for _, mode := range []string{"unix", "chgunix"} {
		var stderr bytes.Buffer
		p := Program{Name: "app", Stderr: &stderr, NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
			t.Fatal("no Handler is built for a mode that cannot run")
			return nil, nil
		}}
		code := p.Main([]string{"app", "serve", "--cmdserver", mode, "--address", "sock"})
		want := "abort: --cmdserver " + mode + " is not supported on this platform: use --cmdserver pipe\n"
		if code != 255 || stderr.String() != want {
			t.Errorf("%s: exit %d, stderr %q; want 255, %q", mode, code, stderr.String(), want)
		}
	}
}

// TestStatusNeedsSocketModes: --status names the modes it needs, whatever
// mode it came with.
func TestStatusNeedsSocketModes(t *testing.T) {
	for _, mode := range []string{"pipe", "unix"} {
		var stderr bytes.Buffer
		p := Program{Name: "app", Stderr: &stderr}
		code := p.Main([]string{"app", "serve", "--cmdserver", mode, "--status", "--address", "sock"})
		want := "abort: --status needs --cmdserver unix or chgunix, which this platform lacks\n"
		if code != 255 || stderr.String() != want {
			t.Errorf("%s: exit %d, stderr %q; want 255, %q", mode, code, stderr.String(), want)
		}
	}
}

func TestClientModeRunsInProcess(t *testing.T) {
	var stdout bytes.Buffer
	t.Setenv(ClientEnv, ClientAuto)
	p := Program{Name: "app", Stdout: &stdout, Stderr: &bytes.Buffer{}, NewHandler: func(*protocol.Config, hclog.Logger) (protocol.Handler, error) {
		return protocol.HandlerFunc(func(_ context.Context, req *protocol.Request) int {
			req.Stdout.Write([]byte("in-process\n"))
			return 3
		}), nil
	}}
	if code := p.Main([]string{"app", "anything"}); code != 3 || stdout.String() != "in-process\n" {
		t.Errorf("exit %d, stdout %q; want 3, %q", code, stdout.String(), "in-process\n")
	}
}
