//go:build unix

package examples_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/clientraw"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
	"github.com/cmdsrv/cmdsrv/internal/wire"
)

// hglibPython is the interpreter Debian's python3-hglib installs for.
const hglibPython = "/usr/bin/python3"

// TestPlainCLIScripts runs testdata/plaincli/*.txtar: examples/plaincli,
// an ordinary CLI made warm, compared byte for byte (stdout, stderr, exit
// status) with its plain build (-tags plain) in every mode, by `same`:
//
//	[!] same [-stdin FILE] MODES ARGS...
//	    run `plaincli ARGS` plainly, then in each of the comma-separated
//	    MODES, and fail unless each gives the plain run's stdout, stderr
//	    and status (with !: unless each differs). The plain run's stdout
//	    and stderr are the command's. Modes: direct (CMDSRV_CLIENT=off),
//	    auto (the own client mode), thin (cmdsrv-chg), chg (Mercurial's
//	    chg), pipe (a pipe server, Go client), hglib (a pipe server,
//	    python-hglib), unix (the server at $WORK/unix.sock, Go client).
func TestPlainCLIScripts(t *testing.T) {
	warm := testutil.BuildCommand(t, "./examples/plaincli", "plaincli")
	thin := testutil.BuildCommand(t, "./cmd/cmdsrv-chg", "cmdsrv-chg")
	plain := buildPlainCLI(t)
	hglibScript, err := filepath.Abs("testdata/plaincli/hglib_run.py")
	if err != nil {
		t.Fatal(err)
	}
	haveHglib := exec.Command(hglibPython, "-c", "import hglib").Run() == nil
	if !haveHglib {
		testutil.Missing(t, "python-hglib not importable by %s", hglibPython)
	}
	if _, err := exec.LookPath("chg"); err != nil {
		testutil.NeedExternal(t, "chg")
	}
	b := &sameRunner{warm: warm, plain: plain, thin: thin, hglib: hglibScript}
	cmds := testutil.ScriptCmds()
	cmds["same"] = b.same
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/plaincli",
		Cmds: cmds,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", filepath.Dir(warm)+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			env.Setenv("XDG_RUNTIME_DIR", env.WorkDir)
			return nil
		},
	})
}

// buildPlainCLI builds plaincli as it was before cmdsrv (-tags plain).
func buildPlainCLI(t *testing.T) string {
	plain := filepath.Join(t.TempDir(), "plaincli-plain")
	build := exec.Command("go", "build", "-tags", "plain", "-o", plain, "./examples/plaincli")
	build.Dir = testutil.ModuleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plain plaincli: %v\n%s", err, out)
	}
	return plain
}

type sameRunner struct {
	warm, plain, thin, hglib string
}

// outcome is what a run leaves: its streams and status, or why it could
// not be run to the end.
type outcome struct {
	stdout, stderr string
	code           int
}

func (o outcome) String() string {
	return fmt.Sprintf("status %d\nstdout %q\nstderr %q", o.code, o.stdout, o.stderr)
}

func (r *sameRunner) same(ts *testscript.TestScript, neg bool, args []string) {
	stdin := ""
	if len(args) >= 2 && args[0] == "-stdin" {
		stdin, args = ts.ReadFile(args[1]), args[2:]
	}
	if len(args) < 1 {
		ts.Fatalf("usage: same [-stdin FILE] MODES ARGS...")
	}
	modes, cli := strings.Split(args[0], ","), args[1:]
	want := r.run(ts, "plain", stdin, cli)
	fmt.Fprint(ts.Stdout(), want.stdout)
	fmt.Fprint(ts.Stderr(), want.stderr)
	for _, mode := range modes {
		got := r.run(ts, mode, stdin, cli)
		switch {
		case !neg && got != want:
			ts.Fatalf("%s %q differs from the plain run:\n%v\nplain:\n%v", mode, cli, got, want)
		case neg && got == want:
			ts.Fatalf("%s %q is the plain run's (the script expects a difference): %v", mode, cli, got)
		case neg:
			ts.Logf("%s %q differs, as expected:\n%v\nplain:\n%v", mode, cli, got, want)
		}
	}
}

// run runs cli in mode with the script's directory and environment.
func (r *sameRunner) run(ts *testscript.TestScript, mode, stdin string, cli []string) outcome {
	env := scriptEnviron(ts)
	var cmd *exec.Cmd
	switch mode {
	case "plain":
		cmd = exec.Command(r.plain, cli...)
	case "direct":
		cmd = exec.Command(r.warm, cli...)
		env = append(env, "CMDSRV_CLIENT=off")
	case "auto":
		cmd = exec.Command(r.warm, cli...)
		env = append(env, "CMDSRV_CLIENT=auto", "CMDSRV_SOCKNAME="+filepath.Join(ts.Getenv("WORK"), "auto.sock"))
	case "thin":
		cmd = exec.Command(r.thin, cli...)
		env = append(env, "CMDSRV_APP="+r.warm, "CMDSRV_SOCKNAME="+filepath.Join(ts.Getenv("WORK"), "auto.sock"))
	case "chg":
		cmd = exec.Command("chg", cli...)
		env = append(env, "CHGHG="+r.warm, "CHGSOCKNAME="+filepath.Join(ts.Getenv("WORK"), "chg.sock"))
	case "hglib":
		cmd = exec.Command(hglibPython, append([]string{r.hglib, r.warm}, cli...)...)
	case "pipe", "unix":
		return r.runGoClient(ts, mode, stdin, cli, env)
	default:
		ts.Fatalf("unknown mode %s", mode)
	}
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		ts.Fatalf("%s: %v", mode, err)
	}
	return outcome{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// runGoClient runs cli on a fresh pipe server or on the unix server at
// unix.sock with the client package, stdin answering 'I'. A server that
// goes away mid-command is an outcome too (status -1): a plain run never
// has it.
func (r *sameRunner) runGoClient(ts *testscript.TestScript, mode, stdin string, cli, env []string) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var c *client.Client
	var err error
	if mode == "pipe" {
		cmd := exec.Command(r.warm, "serve", "--cmdserver", "pipe")
		cmd.Dir, cmd.Env, cmd.Stderr = ts.MkAbs("."), env, &bytes.Buffer{}
		c, err = client.StartCommand(cmd)
	} else {
		c, err = client.Dial(ctx, filepath.Join(ts.Getenv("WORK"), "unix.sock"))
	}
	ts.Check(err)
	defer c.Close()
	in := strings.NewReader(stdin)
	var out, errb bytes.Buffer
	opts := &client.RunOptions{
		Stdout: &out, Stderr: &errb,
		Input: func(size int) ([]byte, error) {
			b := make([]byte, size)
			n, _ := in.Read(b)
			return b[:n], nil
		},
	}
	if mode == "unix" {
		// The unix service takes the client's directory and
		// environment for the command (chdir, setenv).
		opts.Dir, opts.Env = ts.MkAbs("."), env
	}
	code, err := c.RunCommand(ctx, cli, opts)
	if err != nil {
		fmt.Fprintf(&errb, "client: %v\n", err)
		code = -1
	}
	return outcome{stdout: out.String(), stderr: errb.String(), code: code}
}

// scriptEnviron is the script's environment as a process gets it.
func scriptEnviron(ts *testscript.TestScript) []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "WORK", "XDG_RUNTIME_DIR", "GORACE", "GREETING", "PLAINCLI_GREETING", "USER"} {
		if v := ts.Getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// TestPlainCLINestedServe: `serve --cmdserver pipe` as a command of a
// PlainMain application serves a nested session over the command's
// channels, whose commands have the client's process state in turn (the
// nested server itself is not lent the process: its commands are).
func TestPlainCLINestedServe(t *testing.T) {
	warm := testutil.BuildCommand(t, "./examples/plaincli", "plaincli")
	c, err := client.StartCommand(exec.Command(warm, "serve", "--cmdserver", "pipe"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	script := bytes.NewReader(wire.AppendBlock([]byte("runcommand\n"), []byte("-upper\x00hello\x00inner")))
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, err := c.RunCommand(ctx, []string{"serve", "--cmdserver", "pipe"}, &client.RunOptions{
		Stdout: &out, Stderr: &errb,
		Input: func(size int) ([]byte, error) {
			b := make([]byte, min(size, script.Len()))
			n, _ := script.Read(b)
			return b[:n], nil
		},
	})
	if err != nil || code != 0 {
		t.Fatalf("nested serve: %d %v (stderr %q)", code, err, errb.String())
	}
	inner, err := client.New(&out, io.Discard)
	if err != nil {
		t.Fatalf("inner hello: %v (output %q)", err, out.String())
	}
	var frames []string
	for {
		ch, payload, _, err := clientraw.ReadFrame(inner)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, string(ch)+":"+string(payload))
	}
	// The inner command's fmt.Println reached the inner session's 'o'.
	if want := "o:HELLO INNER\n|r:\x00\x00\x00\x00"; strings.Join(frames, "|") != want {
		t.Fatalf("inner frames %q, want %q", frames, want)
	}
	var o bytes.Buffer
	if code, err := c.RunCommand(ctx, []string{"hello", "outer"}, &client.RunOptions{Stdout: &o}); err != nil || code != 0 || o.String() != "hello outer\n" {
		t.Fatalf("outer after nested: %d %v %q", code, err, o.String())
	}
}

// TestPlainCLIInitFileChanges: plaincli reads $PLAINCLI_GREETING's file
// as its package initialises (Program.InitFiles). A long pipe session
// and a unix service, both started before the file changes, answer each
// call as the plain build run at that moment does: the file rewritten,
// removed (the initialisation exits 3 before main), and written again.
// Once the file is removed, the unix service's workers die as they
// initialise, and their master answers for them as the plain run ends.
func TestPlainCLIInitFileChanges(t *testing.T) {
	warm := testutil.BuildCommand(t, "./examples/plaincli", "plaincli")
	plain := buildPlainCLI(t)
	greeting := filepath.Join(t.TempDir(), "greeting")
	env := append(os.Environ(), "PLAINCLI_GREETING="+greeting, "CMDSRV_CLIENT=off")
	plainRun := func(args ...string) outcome {
		cmd := exec.Command(plain, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		return outcome{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	}
	served := func(t *testing.T, c *client.Client, args ...string) outcome {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var out, errb bytes.Buffer
		code, err := c.RunCommand(ctx, args, &client.RunOptions{Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("%q: %v (stderr %q)", args, err, errb.String())
		}
		return outcome{stdout: out.String(), stderr: errb.String(), code: code}
	}
	steps := []struct {
		name  string
		apply func()
		want  string // the plain run's stdout, checked first
	}{
		{"first", func() { os.WriteFile(greeting, []byte("howdy\n"), 0o644) }, "howdy a\n"},
		{"rewritten", func() { os.WriteFile(greeting, []byte("hi there\n"), 0o644) }, "hi there a\n"},
		{"removed", func() { os.Remove(greeting) }, ""},
		{"written again", func() { os.WriteFile(greeting, []byte("back\n"), 0o644) }, "back a\n"},
	}
	check := func(t *testing.T, dial func() *client.Client) {
		for _, st := range steps {
			st.apply()
			want := plainRun("hello", "a")
			if want.stdout != st.want {
				t.Fatalf("%s: the plain run gave %v", st.name, want)
			}
			// Three times: the call that finds the change, then those
			// served by the processes that replaced it (while the file
			// is missing, each a new start that fails as it
			// initialises).
			for i := 0; i < 3; i++ {
				if got := served(t, dial(), "hello", "a"); got != want {
					t.Fatalf("%s, call %d: served\n%v\nplain:\n%v", st.name, i+1, got, want)
				}
			}
		}
	}
	t.Run("pipe", func(t *testing.T) {
		os.WriteFile(greeting, []byte("howdy\n"), 0o644)
		cmd := exec.Command(warm, "serve", "--cmdserver", "pipe")
		cmd.Env = env
		c, err := client.StartCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		check(t, func() *client.Client { return c }) // one session throughout
	})
	t.Run("unix", func(t *testing.T) {
		os.WriteFile(greeting, []byte("howdy\n"), 0o644)
		addr := filepath.Join(testutil.ShortDir(t), "s")
		cmd := exec.Command(warm, "serve", "--cmdserver", "unix", "--address", addr)
		cmd.Env = env
		var log bytes.Buffer
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("the unix service's log:\n%s", log.String())
			}
		}()
		deadline := time.Now().Add(30 * time.Second)
		for _, err := os.Stat(addr); err != nil; _, err = os.Stat(addr) {
			if time.Now().After(deadline) {
				t.Fatal("the unix service did not listen")
			}
			time.Sleep(10 * time.Millisecond)
		}
		var conns []*client.Client
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		check(t, func() *client.Client {
			c, err := client.Dial(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			return c
		})
	})
}
