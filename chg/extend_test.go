package chg

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cmdsrv/cmdsrv/internal/wire"
)

func TestCapabilities(t *testing.T) {
	s := startHelper(t, nil)
	for _, c := range []string{"attachio", "chdir", "getencoding", "runcommand", "setenv", "setumask", "setumask2", "validate", "setprocname"} {
		require.Contains(t, s.caps, c)
	}
	require.Equal(t, 0, s.wait())

	s = startHelper(t, []string{"chgserver.skiphash=true"})
	require.NotContains(t, s.caps, "validate")
	require.Equal(t, 0, s.wait())
}

func TestAttachioPassesRealDescriptors(t *testing.T) {
	s := startHelper(t, nil)
	inR, inW := pipe(t)
	outR, outW := pipe(t)
	errR, errW := pipe(t)
	s.attach(inR, outW, errW)
	outW.Close()
	errW.Close()

	_, err := inW.WriteString("data from the client's stdin")
	require.NoError(t, err)
	inW.Close()
	status, o, e := s.run("echo", "hi")
	require.Equal(t, 0, status)
	require.Empty(t, o+e, "output must not come on the channels once attached")
	status, _, _ = s.run("cat")
	require.Equal(t, 0, status)
	status, _, _ = s.run("--config", "bad", "echo")
	require.Equal(t, 255, status)
	require.Equal(t, 0, s.wait())

	// The helper has exited: the pipes' write ends are all closed.
	got, err := io.ReadAll(outR)
	require.NoError(t, err)
	require.Equal(t, "hi\ndata from the client's stdin", string(got))
	got, err = io.ReadAll(errR)
	require.NoError(t, err)
	require.Contains(t, string(got), "abort: malformed --config option: 'bad'")
}

func TestChdirSetenvUmask(t *testing.T) {
	s := startHelper(t, nil)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	s.send("chdir", []byte(dir))
	s.send("setenv", []byte("NAME=one\x00PATH=/bin"))
	s.send("setumask2", []byte{0, 0, 0, 0o77})
	status, out, _ := s.run("pwd")
	require.Equal(t, 0, status)
	require.Equal(t, dir+"\n", out)
	_, out, _ = s.run("getwd")
	require.Equal(t, dir+"\n", out)
	_, out, _ = s.run("env", "NAME")
	require.Equal(t, "one,one\n", out, "request env and process env")
	_, out, _ = s.run("env", "HOME")
	require.Equal(t, ",\n", out, "setenv replaces the whole environment")
	_, out, _ = s.run("umask")
	require.Equal(t, "0077\n", out)

	s.send("setenv", []byte("NAME=two"))
	_, out, _ = s.run("env", "NAME")
	require.Equal(t, "two,two\n", out)
	// The deprecated form: 4 raw bytes, no length.
	_, err = s.conn.Write([]byte("setumask\n\x00\x00\x00\x12"))
	require.NoError(t, err)
	_, out, _ = s.run("umask")
	require.Equal(t, "0022\n", out)
	require.Equal(t, 0, s.wait())
}

func TestBadRequestsEndTheSession(t *testing.T) {
	for _, tc := range []struct {
		name, cmd string
		block     []byte
		want      string
	}{
		{"short mask", "setumask2", []byte{0, 0, 0o77}, "invalid mask length in setumask2 request"},
		{"long mask", "setumask2", []byte{0, 0, 0, 0, 0o77}, "invalid mask length in setumask2 request"},
		{"env without =", "setenv", []byte("A=1\x00JUSTANAME"), `"JUSTANAME" is not NAME=VALUE`},
		{"missing dir", "chdir", []byte("/nonexistent/dir"), "changing directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startHelper(t, nil)
			s.send(tc.cmd, tc.block)
			ch, p := s.frame()
			require.Equal(t, byte('e'), ch)
			require.Contains(t, string(p), tc.want)
			require.Equal(t, 255, s.wait())
		})
	}
}

// TestAttachioRefusesWrongDescriptorCounts: an attachio without all three
// descriptors would leave the server's own stdio (its log) in place of the
// client's; it ends the session with a clear abort instead.
func TestAttachioRefusesWrongDescriptorCounts(t *testing.T) {
	for _, n := range []int{0, 1, 2, 4} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s := startHelper(t, nil)
			s.send("attachio", nil)
			ch, size := s.frame()
			require.Equal(t, byte('I'), ch)
			require.Equal(t, "1", string(size))
			var oob []byte
			if n > 0 {
				fds := make([]int, n)
				for i := range fds {
					fds[i] = int(os.Stderr.Fd())
				}
				oob = unix.UnixRights(fds...)
			}
			_, _, err := s.conn.WriteMsgUnix([]byte{0}, oob, nil)
			require.NoError(t, err)
			ch, p := s.frame()
			require.Equal(t, byte('e'), ch, "got %q", p)
			require.Equal(t, fmt.Sprintf("abort: attachio: received %d descriptors, want 3 (stdin, stdout, stderr)\n", n), string(p))
			require.Equal(t, 255, s.wait(), "the session is over")
		})
	}
}

func TestSystemRunsOnTheClient(t *testing.T) {
	s := startHelper(t, nil)
	// Not attached: the server runs the command itself.
	status, _, _ := s.run("system", "exit 5")
	require.Equal(t, 5, status)

	_, outW := pipe(t)
	s.attach(os.Stdin, outW, os.Stderr)
	dir := t.TempDir()
	s.send("chdir", []byte(dir))
	s.send("setenv", []byte("A=b"))
	s.send("runcommand", []byte("system\x00exit 7"))
	var seen []string
	_, _, r := s.result(func(p []byte) {
		seen = strings.Split(string(p), "\x00")
		s.conn.Write(wire.AppendBlock(nil, binary.BigEndian.AppendUint32(nil, 7)))
	})
	require.Equal(t, []string{"system", "exit 7", dir, "A=b"}, seen)
	require.Equal(t, int32(7), int32(binary.BigEndian.Uint32(r)))
	require.Equal(t, 0, s.wait())
}

func TestPagerIsDetachedAtCommandEnd(t *testing.T) {
	s := startHelper(t, nil)
	_, outW := pipe(t)
	s.attach(os.Stdin, outW, os.Stderr)
	pagerR, pagerW := pipe(t)

	s.send("runcommand", []byte("--pager\x00on\x00--config\x00pager.pager=mypager\x00page\x00paged text"))
	var seen []string
	_, _, r := s.result(func(p []byte) {
		seen = strings.Split(string(p), "\x00")
		s.attach(os.Stdin, pagerW, os.Stderr)
		_, err := s.conn.Write([]byte("\n"))
		require.NoError(t, err)
	})
	require.Equal(t, []string{"pager", "mypager"}, seen[:2])
	require.Equal(t, []byte{0, 0, 0, 0}, r)
	pagerW.Close()

	// The pager sees end of input while the session is still open: the
	// server gave up its copy of the pipe at the end of the command.
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pagerR)
		done <- b
	}()
	select {
	case b := <-done:
		require.Equal(t, "paged text\n", string(b))
	case <-time.After(10 * time.Second):
		t.Fatal("the pager's pipe was not closed at the end of the command")
	}
	status, _, _ := s.run("echo", "after")
	require.Equal(t, 0, status)
	require.Equal(t, 0, s.wait())
}

func TestValidate(t *testing.T) {
	stamp := filepath.Join(t.TempDir(), "stamp")
	require.NoError(t, os.WriteFile(stamp, []byte("x"), 0o600))
	base := "/tmp/chgtest/server.1234"
	s := startHelper(t, []string{"ui.x=1"}, "CMDSRV_CHG_TEST_BASE="+base, "CMDSRV_CHG_TEST_MTIME="+stamp, "PATH=/usr/bin:/bin")
	errR, errW := pipe(t)
	s.attach(os.Stdin, os.Stdout, errW)
	errW.Close()
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "PATH=") })
	env = append(env, "PATH=/usr/bin:/bin", helperEnv+"=1", "CMDSRV_CHG_TEST_CONFIG=ui.x=1",
		"CMDSRV_CHG_TEST_BASE="+base, "CMDSRV_CHG_TEST_MTIME="+stamp)
	validate := func(env []string, args ...string) string {
		s.send("setenv", []byte(strings.Join(env, "\x00")))
		s.send("validate", []byte(strings.Join(args, "\x00")))
		ch, p := s.frame()
		require.Equal(t, byte('r'), ch)
		return string(p)
	}

	require.Equal(t, "\x00", validate(env, "echo", "hi"), "same environment and config")
	require.Equal(t, "\x00", validate(env, "--config", "ui.y=2", "echo"), "ui is not sensitive")

	got := validate(append(env, "PATH=/elsewhere"), "echo")
	require.True(t, strings.HasPrefix(got, "redirect /tmp/chgtest/server-"), got)
	require.NotContains(t, got, "\x00")

	require.Equal(t, "exit 255", validate(env, "--config", "nodot=1", "echo"))

	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(stamp, later, later))
	got = validate(env, "echo")
	parts := strings.Split(got, "\x00")
	require.Len(t, parts, 2, got)
	require.True(t, strings.HasPrefix(parts[0], "unlink /tmp/chgtest/server-"), got)
	require.Equal(t, "reconnect", parts[1])
	require.Equal(t, 0, s.wait())

	msg, err := io.ReadAll(errR)
	require.NoError(t, err)
	require.Equal(t, "abort: malformed --config option: 'nodot=1' (use --config section.name=value)\n", string(msg))
}

func TestHashAddress(t *testing.T) {
	require.Equal(t, "/d/server-abc", HashAddress("/d/server.123", "abc"))
	require.Equal(t, "/d.x/server-abc", HashAddress("/d.x/server", "abc"))
}

func TestCleanEnv(t *testing.T) {
	require.Equal(t, []string{"A=1", "LC_CTYPE=C.UTF-8"},
		CleanEnv([]string{"A=1", "CHGINTERNALMARK=", "LC_CTYPE=C", "CHGORIG_LC_CTYPE=C.UTF-8"}))
	require.Equal(t, []string{"A=1"}, CleanEnv([]string{"A=1", "CHG_CLEAR_LC_CTYPE=", "LC_CTYPE=C"}))
}
