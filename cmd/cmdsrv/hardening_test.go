//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/testutil"
)

// TestLogFileModeAndPanicLine: the log file is the server user's alone
// (0600 under a umask of 022), and a panicking command's line names the
// command and carries the stack, but its arguments (tokens, passwords)
// only at debug level.
func TestLogFileModeAndPanicLine(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			dir := testutil.ShortDir(t)
			logPath, sock := filepath.Join(dir, "log"), filepath.Join(dir, "s")
			cmd := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", sock, "--daemon",
				"--pid-file", filepath.Join(dir, "pid"), "--config", "cmdserver.log="+logPath)
			cmd.Env = append(os.Environ(), "CMDSRV_LOG_LEVEL="+level)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "output: %s", out)
			pid := testutil.ReadPIDFile(t, filepath.Join(dir, "pid"))
			t.Cleanup(func() { testutil.Terminate(t, pid, 20*time.Second) })

			fi, err := os.Stat(logPath)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

			c, err := client.Dial(context.Background(), sock)
			require.NoError(t, err)
			defer c.Close()
			code, _, errOut := testutil.Run(t, c, "debugcrash", "--password=s3cr3t-token")
			require.Equal(t, 255, code)
			require.Equal(t, "abort: command panicked: debugcrash\n", errOut)

			var log string
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(logPath)
				log = string(b)
				return strings.Contains(log, "command panicked") && (level != "debug" || strings.Contains(log, "arguments of the command"))
			}, 20*time.Second, 10*time.Millisecond)
			line := log[strings.Index(log, "command panicked"):]
			require.Contains(t, line, "command=debugcrash")
			require.Contains(t, line, "goroutine ", "the stack")
			if level == "debug" {
				require.Contains(t, log, "s3cr3t-token", "arguments at debug level")
			} else {
				require.NotContains(t, log, "s3cr3t-token", "no arguments above debug level")
			}
		})
	}
}

// commandProcesses lists the live processes whose command line mentions
// marker (the shell, or what it started once the shell is gone).
func commandProcesses(marker string) []int {
	return testutil.Processes(func(_ int, argv []string) bool {
		return slices.ContainsFunc(argv, func(a string) bool { return strings.Contains(a, marker) })
	})
}

// TestSystemChildrenEndWithTheClient: a client that goes away, or
// interrupts its command, during `system 'sleep N; echo late'` leaves no
// process of that command alive: the shell and the sleep it started both
// end (the whole process group hangs up), not just the shell.
func TestSystemChildrenEndWithTheClient(t *testing.T) {
	s := startUnix(t, filepath.Join(testutil.ShortDir(t), "s"))
	for _, how := range []string{"disconnect", "interrupt", "worker killed"} {
		t.Run(how, func(t *testing.T) {
			marker := fmt.Sprintf("3%d.%05d", os.Getpid()%10, time.Now().UnixNano()%100000)
			c, err := client.Dial(context.Background(), s.addr)
			require.NoError(t, err)
			defer c.Close()
			type result struct {
				code           int
				stdout, stderr string
				err            error
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan result, 1)
			go func() {
				var out, errOut strings.Builder
				code, err := c.RunCommand(ctx, []string{"system", "sleep " + marker + "; echo late"},
					&client.RunOptions{Stdout: &out, Stderr: &errOut})
				done <- result{code, out.String(), errOut.String(), err}
			}()
			require.Eventually(t, func() bool { return len(commandProcesses(marker)) > 0 },
				20*time.Second, 10*time.Millisecond, "the command never started")

			if how != "interrupt" {
				if how == "disconnect" {
					cancel() // the client closes its connection
				} else {
					// SIGKILL: the worker cannot hang up its shells; the
					// master must.
					require.NoError(t, syscall.Kill(c.Hello.PID, syscall.SIGKILL))
				}
				<-done
				require.Eventually(t, func() bool { return len(commandProcesses(marker)) == 0 },
					20*time.Second, 10*time.Millisecond, "processes of the command outlived its client: %v", commandProcesses(marker))
				return
			}
			// As chg forwards SIGINT: to the worker's process group.
			require.NoError(t, syscall.Kill(-c.Hello.PGID, syscall.SIGINT))
			r := <-done
			require.NoError(t, r.err)
			require.Equal(t, 255, r.code)
			require.Equal(t, "interrupted!\n", r.stderr)
			require.Empty(t, r.stdout, "the command did not go on after the interrupt")
			require.Empty(t, commandProcesses(marker), "no process of the command is left once it has answered")
		})
	}
}

// startMaster starts `cmdsrv serve --cmdserver unix` at addr and returns
// it with a channel closed once it has exited (and been reaped).
func startMaster(t *testing.T, addr string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	var log testutil.SyncBuffer
	master := exec.Command(testutil.Binary(t), "serve", "--cmdserver", "unix", "--address", addr)
	master.Stderr = &log
	out, err := master.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, master.Start())
	exited := make(chan struct{})
	go func() { _ = master.Wait(); close(exited) }()
	t.Cleanup(func() { _ = master.Process.Kill(); <-exited })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "server log: %s", &log)
	require.Equal(t, "listening at "+addr+"\n", line)
	return master, exited
}

// TestPipeSystemInterrupted: the same for a pipe server interrupted
// (SIGINT) during `system`, as python-hglib interrupts it.
func TestPipeSystemInterrupted(t *testing.T) {
	marker := fmt.Sprintf("4%d.%05d", os.Getpid()%10, time.Now().UnixNano()%100000)
	c := testutil.StartPipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		code, _ := c.RunCommand(ctx, []string{"system", "sleep " + marker + "; echo late"}, nil)
		done <- code
	}()
	require.Eventually(t, func() bool { return len(commandProcesses(marker)) > 0 },
		20*time.Second, 10*time.Millisecond, "the command never started")
	cancel() // the client sends SIGINT to the pipe server
	require.Equal(t, 255, <-done)
	require.Empty(t, commandProcesses(marker), "no process of the command is left once it has answered")
}

// TestRestartAfterMasterKilledWithStoppedWorker: the master is killed
// (SIGKILL) while its workers, an idle one among them, are stopped
// (SIGSTOP) and still hold the listening socket. A new server started at
// once at the same path serves clients, and the old workers are gone.
func TestRestartAfterMasterKilledWithStoppedWorker(t *testing.T) {
	addr := filepath.Join(testutil.ShortDir(t), "s")
	master, exited := startMaster(t, addr)
	c, err := client.Dial(context.Background(), addr)
	require.NoError(t, err)
	_, echoed, _ := testutil.Run(t, c, "echo", "before")
	require.Equal(t, "before\n", echoed)
	c.Close()

	// Every worker holds the listening socket, ready or not: stop them all.
	workers := testutil.Processes(func(pid int, _ []string) bool {
		_, ppid := testutil.ProcStat(pid)
		return ppid == master.Process.Pid
	})
	var stopped []int
	for _, pid := range workers {
		// The worker that served the client may be exiting.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err == nil {
			stopped = append(stopped, pid)
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		}
	}
	require.Eventually(t, func() bool {
		n := 0
		for _, pid := range stopped {
			if state, _ := testutil.ProcStat(pid); state == 'T' {
				n++
			} else if state != 0 && state != 'Z' {
				return false
			}
		}
		return n > 0
	}, 20*time.Second, 10*time.Millisecond, "no worker stopped: %v", workers)
	require.NoError(t, master.Process.Kill())
	<-exited

	s := startUnix(t, addr)
	c, err = client.Dial(context.Background(), addr)
	require.NoError(t, err)
	defer c.Close()
	_, echoed, _ = testutil.Run(t, c, "echo", "after")
	require.Equal(t, "after\n", echoed)
	// Served by a worker of the new server (its log is read by a
	// goroutine of the test: the line may come a moment later).
	require.Eventually(t, func() bool { return slices.Contains(s.workerPIDs(), c.Hello.PID) },
		10*time.Second, 10*time.Millisecond, "worker %d is not the new server's: %v", c.Hello.PID, s.workerPIDs())

	require.Eventually(t, func() bool {
		for _, pid := range stopped {
			if testutil.Alive(pid) {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond, "workers outlived their master: %v", stopped)
}

// TestBusyWorkerLeavesWithItsMaster: a worker in the middle of a long
// command does not outlive its master (the kernel kills it: Linux's
// parent-death signal); its client sees the connection end.
func TestBusyWorkerLeavesWithItsMaster(t *testing.T) {
	addr := filepath.Join(testutil.ShortDir(t), "s")
	master, exited := startMaster(t, addr)
	c, err := client.Dial(context.Background(), addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	worker := c.Hello.PID
	t.Cleanup(func() { _ = syscall.Kill(worker, syscall.SIGKILL) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // runs first: a failed test does not wait for the command
	done := make(chan error, 1)
	go func() {
		_, err := c.RunCommand(ctx, []string{"sleep", "600"}, nil)
		done <- err
	}()
	require.NoError(t, master.Process.Kill())
	<-exited
	require.Eventually(t, func() bool { return !testutil.Alive(worker) }, 20*time.Second, 10*time.Millisecond,
		"the busy worker outlived its master")
	require.Error(t, <-done, "the client's connection ended")
}
