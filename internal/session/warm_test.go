package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cmdsrv/cmdsrv/client"
	"github.com/cmdsrv/cmdsrv/internal/fresh"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// fileHandler is warm state read from one file at construction; "show"
// prints it, "key" builds state for a second file and declares it with
// UseKeyFrom.
type fileHandler struct {
	protocol.Deps
	content string
	gen     int64
}

func (h *fileHandler) ServeCommand(ctx context.Context, req *protocol.Request) int {
	switch req.Args[0] {
	case "show":
		fmt.Fprintf(req.Stdout, "%s (build %d)", h.content, h.gen)
	case "key":
		var kd protocol.Deps
		_, _ = kd.ReadFile(req.Args[1])
		req.UseKeyFrom("k", &kd)
	}
	return 0
}

type fileBuilder struct {
	path   string
	builds atomic.Int64
	fail   atomic.Bool
	// gate, if set, holds each build until it is closed... or read from.
	gate chan struct{}
}

func (b *fileBuilder) build() (protocol.Handler, error) {
	if b.gate != nil {
		<-b.gate
	}
	n := b.builds.Add(1)
	if b.fail.Load() {
		return nil, errors.New("bad file")
	}
	h := &fileHandler{gen: n}
	data, err := h.ReadFile(b.path)
	if err != nil {
		h.content = "missing"
	} else {
		h.content = string(data)
	}
	return h, nil
}

// startWarm serves a session with w over real pipes and returns a client.
func startWarm(t *testing.T, w *Warm) *client.Client {
	t.Helper()
	inR, inW, err := os.Pipe()
	require.NoError(t, err)
	outR, outW, err := os.Pipe()
	require.NoError(t, err)
	s := &Session{Handler: w.Handler(), Options: protocol.SessionOptions{Dir: t.TempDir()}}
	done := make(chan error, 1)
	go func() {
		err := s.Serve(context.Background(), inR, outW)
		outW.Close()
		inR.Close()
		done <- err
	}()
	c, err := client.New(outR, inW)
	require.NoError(t, err)
	t.Cleanup(func() {
		inW.Close()
		require.NoError(t, <-done)
		outR.Close()
	})
	return c
}

func run(t *testing.T, c *client.Client, args ...string) string {
	t.Helper()
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, err := c.RunCommand(ctx, args, &client.RunOptions{Stdout: &out, Stderr: &errb})
	require.NoError(t, err)
	if code != 0 {
		return fmt.Sprintf("status %d: %s", code, errb.String())
	}
	return out.String()
}

func newFileWarm(t *testing.T, content string, onStale func(fresh.Change)) (*fileBuilder, *Warm) {
	b := &fileBuilder{path: filepath.Join(t.TempDir(), "state")}
	if content != "" {
		require.NoError(t, os.WriteFile(b.path, []byte(content), 0o644))
	}
	h, err := b.build()
	require.NoError(t, err)
	return b, NewWarm(h, b.build, nil, onStale)
}

func TestWarmRebuildsOnChangeBeforeTheCommand(t *testing.T) {
	var stale []string
	b, w := newFileWarm(t, "one", func(c fresh.Change) { stale = append(stale, c.String()) })
	c := startWarm(t, w)
	require.Equal(t, "one (build 1)", run(t, c, "show"))
	require.Equal(t, "one (build 1)", run(t, c, "show"), "unchanged: no rebuild")

	// Same size, within the same tick as the first write.
	require.NoError(t, os.WriteFile(b.path, []byte("two"), 0o644))
	require.Equal(t, "two (build 2)", run(t, c, "show"))
	require.Equal(t, []string{"file " + b.path}, stale)

	require.NoError(t, os.Remove(b.path))
	require.Equal(t, "missing (build 3)", run(t, c, "show"))
	require.Equal(t, "missing (build 3)", run(t, c, "show"))
	require.NoError(t, os.WriteFile(b.path, []byte("back"), 0o644))
	require.Equal(t, "back (build 4)", run(t, c, "show"))
	n, why := w.Rebuilds()
	require.Equal(t, 3, n)
	require.Equal(t, b.path, why.Dep.Name)
}

func TestWarmKeyDeps(t *testing.T) {
	_, w := newFileWarm(t, "one", nil)
	c := startWarm(t, w)
	other := filepath.Join(t.TempDir(), "other")
	require.NoError(t, os.WriteFile(other, []byte("x"), 0o644))
	run(t, c, "key", other)
	require.Equal(t, "one (build 1)", run(t, c, "show"))
	require.NoError(t, os.WriteFile(other, []byte("xy"), 0o644))
	require.Equal(t, "one (build 2)", run(t, c, "show"), "a key's file changed: rebuilt")
	_, why := w.Rebuilds()
	require.Equal(t, "k", why.Key)
}

func TestWarmFailedBuild(t *testing.T) {
	b, w := newFileWarm(t, "one", nil)
	c := startWarm(t, w)
	b.fail.Store(true)
	require.NoError(t, os.WriteFile(b.path, []byte("bad!"), 0o644))
	out := run(t, c, "show")
	require.Contains(t, out, "status 255: abort: rebuilding after a change of file "+b.path+": bad file")
	b.fail.Store(false)
	require.Equal(t, "bad! (build 3)", run(t, c, "show"), "the next command builds again")
}

func TestWarmRefreshInBackground(t *testing.T) {
	b, w := newFileWarm(t, "one", nil)
	c := startWarm(t, w)
	w.Refresh() // nothing changed: no build
	require.Equal(t, "one (build 1)", run(t, c, "show"))

	b.gate = make(chan struct{})
	require.NoError(t, os.WriteFile(b.path, []byte("two"), 0o644))
	w.Refresh()
	w.Refresh() // the build runs: not a second one
	// A command arriving meanwhile waits for that build.
	got := make(chan string, 1)
	go func() { got <- run(t, c, "show") }()
	select {
	case s := <-got:
		t.Fatalf("answered %q before the build ended", s)
	case <-time.After(50 * time.Millisecond):
	}
	close(b.gate)
	require.Equal(t, "two (build 2)", <-got)
	require.EqualValues(t, 2, b.builds.Load())
}

func TestWarmWatchRebuildsBetweenCommands(t *testing.T) {
	var stale atomic.Int64
	b, w := newFileWarm(t, "one", func(fresh.Change) { stale.Add(1) })
	defer w.Watch()()
	require.True(t, w.Watching())
	c := startWarm(t, w)
	require.Equal(t, "one (build 1)", run(t, c, "show"))

	// Saved by rename, as editors do.
	require.NoError(t, os.WriteFile(b.path+".tmp", []byte("two"), 0o644))
	require.NoError(t, os.Rename(b.path+".tmp", b.path))
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := w.Rebuilds(); n == 0; n, _ = w.Rebuilds() {
		require.True(t, time.Now().Before(deadline), "no background rebuild")
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, "two (build 2)", run(t, c, "show"))
	require.Zero(t, stale.Load(), "rebuilt by the watcher, not by the command's check")
}

func TestWarmFailedBackgroundBuild(t *testing.T) {
	b, w := newFileWarm(t, "one", nil)
	c := startWarm(t, w)
	b.fail.Store(true)
	require.NoError(t, os.WriteFile(b.path, []byte("bad!"), 0o644))
	w.Refresh()
	// The command waits for that build, which failed: it builds again,
	// fails again, and says which change it follows.
	out := run(t, c, "show")
	require.Contains(t, out, "status 255: abort: rebuilding after a change of file "+b.path+": bad file")
	b.fail.Store(false)
	require.Equal(t, "bad! (build 4)", run(t, c, "show"))
}
