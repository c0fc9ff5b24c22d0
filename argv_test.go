package cmdsrv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// describe prints an invocation compactly for table tests.
func (inv invocation) describe() string {
	switch {
	case inv.worker:
		return "worker"
	case inv.server != nil:
		o := *inv.server
		return fmt.Sprintf("server mode=%s addr=%s daemon=%v postexec=%q pid=%s config=%q R=%s cwd=%s tb=%v",
			o.mode, o.address, o.daemon, o.postexec, o.pidFile, o.globals.Config, o.globals.Repository, o.globals.Cwd, o.globals.Traceback)
	case inv.direct != nil:
		d := *inv.direct
		return fmt.Sprintf("direct args=%q config=%q R=%s cwd=%s pager=%s tb=%v",
			d.args, d.globals.Config, d.globals.Repository, d.globals.Cwd, d.globals.Pager, d.globals.Traceback)
	}
	return "nothing"
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		hg   bool
		args string
		want string
	}{
		// An application's command line is its own.
		{false, "--config my.yaml show", `direct args=["--config" "my.yaml" "show"] config=[] R= cwd= pager= tb=false`},
		{false, "serve", `direct args=["serve"] config=[] R= cwd= pager= tb=false`},
		{false, "serve --port 80 -d", `direct args=["serve" "--port" "80" "-d"] config=[] R= cwd= pager= tb=false`},
		{false, "--cmdserver pipe", `direct args=["--cmdserver" "pipe"] config=[] R= cwd= pager= tb=false`},
		{false, "--config a.b=1 serve --cmdserver pipe", `direct args=["--config" "a.b=1" "serve" "--cmdserver" "pipe"] config=[] R= cwd= pager= tb=false`},
		{false, "serve -- --cmdserver pipe", `direct args=["serve" "--" "--cmdserver" "pipe"] config=[] R= cwd= pager= tb=false`},
		{false, "serve --cmdserver pipe --config a.b=1", `server mode=pipe addr= daemon=false postexec=[] pid= config=["a.b=1"] R= cwd= tb=false`},
		{false, "serve --config a.b=1 --cmdserver=unix --address P -d", `server mode=unix addr=P daemon=true postexec=[] pid= config=["a.b=1"] R= cwd= tb=false`},
		// chg's command line, with the client's --config FILE, -R and
		// --cwd copied after it: the application's words, dropped.
		{false, "serve --no-profile --cmdserver chgunix --address P --daemon-postexec chdir:/ --config my.yaml -R r --cwd /tmp --traceback --config chgserver.idletimeout=5",
			`server mode=chgunix addr=P daemon=false postexec=["chdir:/"] pid= config=["chgserver.idletimeout=5"] R= cwd= tb=false`},
		// The reference binary reads hg's command line.
		{true, "--config ui.interactive=True --config ui.merge=internal:fail serve --cmdserver pipe --config ui.username=test",
			`server mode=pipe addr= daemon=false postexec=[] pid= config=["ui.interactive=True" "ui.merge=internal:fail" "ui.username=test"] R= cwd= tb=false`},
		{true, "--config extensions.mq= serve --cmdserver pipe", `server mode=pipe addr= daemon=false postexec=[] pid= config=["extensions.mq="] R= cwd= tb=false`},
		{true, "-R a --cwd c --traceback --no-profile serve --cmdserver unix -R b --address P", `server mode=unix addr=P daemon=false postexec=[] pid= config=[] R=b cwd=c tb=true`},
		// After a lone "--" a word is an argument, even --no-profile.
		{true, "--traceback -- --no-profile", `direct args=["--no-profile"] config=[] R= cwd= pager= tb=true`},
		{true, "--no-profile --config a.b=1 --no-profile echo", `direct args=["echo"] config=["a.b=1"] R= cwd= pager= tb=false`},
		{true, "--cmdserver pipe", `server mode=pipe addr= daemon=false postexec=[] pid= config=[] R= cwd= tb=false`},
		{true, "--config a.b=1 --cmdserver pipe", `server mode=pipe addr= daemon=false postexec=[] pid= config=["a.b=1"] R= cwd= tb=false`},
		{true, "serve", `server mode= addr= daemon=false postexec=[] pid= config=[] R= cwd= tb=false`},
		{true, "--config a.b=1 --pager off echo serve", `direct args=["echo" "serve"] config=["a.b=1"] R= cwd= pager=off tb=false`},
		{true, "", `direct args=[] config=[] R= cwd= pager= tb=false`},
	}
	for _, tt := range tests {
		inv, err := parseArgs(strings.Fields(tt.args), tt.hg, false)
		require.NoError(t, err, "%q", tt.args)
		require.Equal(t, tt.want, inv.describe(), "hg=%v %q", tt.hg, tt.args)
	}

	inv, err := parseArgs([]string{"--config", "my.yaml"}, false, true)
	require.NoError(t, err)
	require.Equal(t, "worker", inv.describe(), "the worker cookie decides, not argv")

	for _, bad := range []struct {
		hg   bool
		args string
		want string
	}{
		{true, "--pager maybe echo", "invalid value for --pager: maybe"},
		{true, "--config", "option --config requires argument"},
		{true, "serve --cmdserver pipe --bogus", "serve: option or argument not recognized: --bogus"},
		{false, "serve --cmdserver pipe --port 80", "serve: option or argument not recognized: --port"},
		{false, "serve --cmdserver", "option --cmdserver requires argument"},
	} {
		_, err := parseArgs(strings.Fields(bad.args), bad.hg, false)
		require.ErrorContains(t, err, bad.want, "%q", bad.args)
	}
}

// FuzzParseArgs: any command line (NUL-separated) parses without a panic
// into exactly one role, and an application's direct run keeps every word.
func FuzzParseArgs(f *testing.F) {
	f.Add([]byte("--config\x00a.b=1\x00serve\x00--cmdserver\x00pipe"), true)
	f.Add([]byte("serve\x00--cmdserver=chgunix\x00--address\x00P\x00--config\x00x"), false)
	f.Add([]byte("-R\x00"), true)
	f.Fuzz(func(t *testing.T, b []byte, hg bool) {
		var args []string
		if len(b) > 0 {
			args = strings.Split(string(b), "\x00")
		}
		inv, err := parseArgs(args, hg, false)
		if err != nil {
			return
		}
		if (inv.server == nil) == (inv.direct == nil) {
			t.Fatalf("%q: not exactly one role: %s", args, inv.describe())
		}
		if !hg && inv.direct != nil && strings.Join(inv.direct.args, "\x00") != string(b) {
			t.Fatalf("%q: a plain application's words changed: %q", args, inv.direct.args)
		}
	})
}

// TestLeadingServeFlagsAreTheParsersOwn: with hg's command line, every
// server flag of serve's table makes a leading-flag server, -a and
// --status included, and the global options stay direct runs.
func TestLeadingServeFlagsAreTheParsersOwn(t *testing.T) {
	inv, err := parseArgs(strings.Fields("-a P --cmdserver unix"), true, false)
	require.NoError(t, err)
	require.NotNil(t, inv.server)
	require.Equal(t, "P", inv.server.address)
	inv, err = parseArgs(strings.Fields("--status --cmdserver unix --address P"), true, false)
	require.NoError(t, err)
	require.NotNil(t, inv.server)
	require.True(t, inv.server.status)
	for _, a := range []string{"--cmdserver", "--address=P", "-a", "-d", "--daemon", "--daemon-postexec", "--pid-file", "--status"} {
		require.True(t, isServeFlag(a), a)
	}
	for _, a := range []string{"--config", "-R", "--cwd", "--traceback", "--pager", "--no-profile", "echo", "-x", "--daemon=1"} {
		require.False(t, isServeFlag(a), a)
	}
}
