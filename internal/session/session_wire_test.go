package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmdsrv/cmdsrv/internal/message"
	"github.com/cmdsrv/cmdsrv/internal/wire"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// recorder is a Handler for session tests that records every command it
// runs, so a test can tell that nothing was executed.
type recorder struct {
	mu    sync.Mutex
	calls [][]string
}

func (r *recorder) ran() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.calls...)
}

func (r *recorder) ServeCommand(ctx context.Context, req *protocol.Request) int {
	r.mu.Lock()
	r.calls = append(r.calls, req.Args)
	r.mu.Unlock()
	if len(req.Args) == 0 {
		fmt.Fprintln(req.Stdout, "no args")
		return 0
	}
	args := req.Args[1:]
	switch req.Args[0] {
	case "echo":
		fmt.Fprintln(req.Stdout, strings.Join(args, " "))
	case "exit":
		n, _ := strconv.Atoi(args[0])
		return n
	case "panic":
		panic("boom")
	case "pwd":
		fmt.Fprintln(req.Stdout, req.Dir)
	case "config":
		fmt.Fprintln(req.Stdout, req.Config.Get(args[0], "<unset>"))
	case "prompt":
		ans, err := req.UI.Prompt("name?", "def")
		if err != nil {
			fmt.Fprintf(req.Stderr, "abort: %v\n", err)
			return 255
		}
		fmt.Fprintf(req.Stdout, "answer=%s\n", ans)
	case "cat":
		if _, err := io.Copy(req.Stdout, req.Stdin); err != nil {
			fmt.Fprintf(req.Stderr, "cat: %v\n", err)
			return 1
		}
	case "readsome":
		// Reads with a buffer of N bytes, one output frame per read.
		n, _ := strconv.Atoi(args[0])
		buf := make([]byte, n)
		for {
			k, err := req.Stdin.Read(buf)
			if k > 0 {
				fmt.Fprintf(req.Stdout, "%q;", buf[:k])
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Fprintf(req.Stderr, "readsome: %v\n", err)
				return 1
			}
		}
	case "message":
		req.UI.Status("st\n")
		req.UI.Warn("wa\n")
		req.UI.Error("er\n")
	default:
		fmt.Fprintf(req.Stderr, "unknown %s\n", req.Args[0])
		return 255
	}
	return 0
}

type frame struct {
	ch   byte
	data string
	size uint32
}

// result is what a scripted session produced.
type result struct {
	hello  string
	frames []frame // after the hello
	err    error
	stderr string
}

// status is the exit status a pipe server would end with.
func (r result) status() int { return ServeStatus(r.err) }

// find returns the concatenated payloads of the frames on ch.
func (r result) on(ch byte) string {
	var b strings.Builder
	for _, f := range r.frames {
		if f.ch == ch {
			b.WriteString(f.data)
		}
	}
	return b.String()
}

// results returns the runcommand results in order.
func (r result) results() []int32 {
	var out []int32
	for _, f := range r.frames {
		if f.ch == 'r' && len(f.data) == 4 {
			out = append(out, int32(uint32(f.data[0])<<24|uint32(f.data[1])<<16|uint32(f.data[2])<<8|uint32(f.data[3])))
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveScript runs s over a real pipe pair: input is written (answers to
// 'I'/'L' requests included, since the session reads them from the same
// stream), then the client's end is closed; every frame is collected.
func serveScript(t *testing.T, s *Session, input []byte) result {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer outR.Close()
	var stderr syncBuffer
	if s.Stderr == nil {
		s.Stderr = &stderr
	}
	if s.Options.Dir == "" {
		s.Options.Dir = t.TempDir()
	}
	go func() {
		_, _ = inW.Write(input) // fails only if the session stopped reading
		inW.Close()
	}()
	done := make(chan error, 1)
	go func() {
		err := s.Serve(context.Background(), inR, outW)
		outW.Close()
		done <- err
	}()
	var res result
	framesDone := make(chan struct{})
	go func() {
		defer close(framesDone)
		first := true
		for {
			ch, payload, size, err := wire.ReadFrame(outR, 0)
			if err != nil {
				if err != io.EOF {
					t.Errorf("reading frames: %v", err)
				}
				return
			}
			if first && ch == 'o' {
				res.hello = string(payload)
				first = false
				continue
			}
			first = false
			res.frames = append(res.frames, frame{ch, string(payload), size})
		}
	}()
	select {
	case res.err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("session did not end")
	}
	<-framesDone
	res.stderr = stderr.String()
	return res
}

// req builds raw request bytes: a command line and, for runcommand, the
// block of its arguments.
func runcmd(args ...string) []byte {
	return wire.AppendBlock([]byte("runcommand\n"), []byte(strings.Join(args, "\x00")))
}

func TestSessionEndOfInput(t *testing.T) {
	tests := []struct {
		name    string
		input   []byte
		status  int
		results []int32
		ran     int
		stderr  string
	}{
		{name: "EOF right after hello", input: nil, status: 0},
		{name: "EOF between requests", input: runcmd("echo", "a"), status: 0, results: []int32{0}, ran: 1},
		{name: "empty request line", input: cat([]byte("\n"), runcmd("echo", "never")), status: 0},
		{name: "empty line after a command", input: cat(runcmd("exit", "3"), []byte("\n"), runcmd("echo", "never")), status: 0, results: []int32{3}, ran: 1},
		{name: "block shorter than declared", input: cat([]byte("runcommand\n"), be32(10), []byte("echo")), status: 1, stderr: "abort: runcommand: block of 10 bytes ended early: unexpected end of input in the middle of a request\n"},
		{name: "partial 4-byte length", input: []byte("runcommand\n\x00\x00"), status: 1, stderr: "abort: runcommand: reading block length: unexpected end of input in the middle of a request\n"},
		{name: "no length at all", input: []byte("runcommand\n"), status: 1},
		{name: "command name cut off", input: []byte("runcomm"), status: 1, stderr: "abort: command name \"runcomm\" without newline: unexpected end of input in the middle of a request\n"},
		{name: "command name without its newline", input: []byte("runcommand"), status: 1},
		{name: "getencoding without newline", input: []byte("getencoding"), status: 1},
		{name: "truncation after a good request", input: cat(runcmd("echo", "a"), []byte("runcommand\n\x00")), status: 1, results: []int32{0}, ran: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			res := serveScript(t, &Session{Handler: rec}, tt.input)
			if res.status() != tt.status {
				t.Fatalf("status %d (err %v), want %d", res.status(), res.err, tt.status)
			}
			if tt.status == 1 && !errors.Is(res.err, ErrTruncated) {
				t.Fatalf("err = %v, want ErrTruncated", res.err)
			}
			if got := res.results(); fmt.Sprint(got) != fmt.Sprint(tt.results) {
				t.Fatalf("results %v, want %v", got, tt.results)
			}
			if got := len(rec.ran()); got != tt.ran {
				t.Fatalf("executed %d commands (%q), want %d", got, rec.ran(), tt.ran)
			}
			if tt.stderr != "" && res.stderr != tt.stderr {
				t.Fatalf("stderr %q, want %q", res.stderr, tt.stderr)
			}
			if tt.status == 1 && strings.Count(res.stderr, "\n") != 1 {
				t.Fatalf("want one line on stderr, got %q", res.stderr)
			}
			if e := res.on('e'); tt.status == 1 && e != "" {
				t.Fatalf("truncation sent %q on 'e'", e)
			}
		})
	}
}

func TestSessionRefusesOversizedBlock(t *testing.T) {
	for _, tt := range []struct {
		name  string
		max   int
		claim uint32
	}{
		{"over MaxBlock", 16, 17},
		{"4 GiB claim", 0, 1<<32 - 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			in := cat([]byte("runcommand\n"), be32(tt.claim), bytes.Repeat([]byte("x"), 17))
			res := serveScript(t, &Session{Handler: rec, MaxBlock: tt.max}, in)
			if !errors.Is(res.err, ErrBlockTooLarge) || res.status() != 255 {
				t.Fatalf("err %v status %d, want ErrBlockTooLarge, 255", res.err, res.status())
			}
			if len(rec.ran()) != 0 {
				t.Fatalf("executed %q", rec.ran())
			}
			if e := res.on('e'); !strings.HasPrefix(e, "abort: runcommand: block too large") {
				t.Fatalf("'e' = %q", e)
			}
		})
	}
}

func TestSessionUnknownCommand(t *testing.T) {
	rec := &recorder{}
	res := serveScript(t, &Session{Handler: rec}, cat([]byte("frobnicate\n"), runcmd("echo", "never")))
	if res.status() != 255 {
		t.Fatalf("status %d, want 255", res.status())
	}
	var u *UnknownCommandError
	if !errors.As(res.err, &u) || u.Name != "frobnicate" {
		t.Fatalf("err = %v", res.err)
	}
	const want = "abort: unknown command frobnicate\n"
	if e := res.on('e'); e != want {
		t.Fatalf("'e' = %q, want %q", e, want)
	}
	if res.stderr != want {
		t.Fatalf("stderr = %q, want %q", res.stderr, want)
	}
	if len(rec.ran()) != 0 {
		t.Fatalf("executed %q after the unknown command", rec.ran())
	}
}

func TestSessionRequestLineTooLong(t *testing.T) {
	res := serveScript(t, &Session{Handler: &recorder{}}, []byte(strings.Repeat("a", 5000)+"\n"))
	if res.status() != 255 || !strings.Contains(res.on('e'), "request line too long") {
		t.Fatalf("status %d, 'e' %q", res.status(), res.on('e'))
	}
}

func TestSessionGetEncoding(t *testing.T) {
	res := serveScript(t, &Session{Handler: &recorder{}}, []byte("getencoding\ngetencoding\n"))
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := []frame{{'r', "UTF-8", 5}, {'r', "UTF-8", 5}}
	if fmt.Sprint(res.frames) != fmt.Sprint(want) {
		t.Fatalf("frames %+v, want %+v", res.frames, want)
	}
}

func TestSessionHello(t *testing.T) {
	noop := func(context.Context, *Session) error { return nil }
	tests := []struct {
		name string
		s    *Session
		want string
	}{
		{
			name: "plain",
			s:    &Session{PID: 12345, PGID: 12300},
			want: "capabilities: getencoding runcommand\nencoding: UTF-8\npid: 12345\npgid: 12300",
		},
		{
			name: "extra commands sorted",
			s:    &Session{PID: 1, PGID: 2, Commands: map[string]CommandFunc{"validate": noop, "attachio": noop, "setenv": noop}},
			want: "capabilities: attachio getencoding runcommand setenv validate\nencoding: UTF-8\npid: 1\npgid: 2",
		},
		{
			name: "message output on the channel",
			s:    &Session{PID: 7, PGID: 7, Options: protocol.SessionOptions{Config: configOf(t, "ui.message-output=channel")}},
			want: "capabilities: getencoding runcommand\nencoding: UTF-8\nmessage-encoding: cbor\npid: 7\npgid: 7",
		},
		{
			name: "message encodings without channel output",
			s:    &Session{PID: 7, PGID: 7, Options: protocol.SessionOptions{Config: configOf(t, "cmdserver.message-encodings=foo")}},
			want: "capabilities: getencoding runcommand\nencoding: UTF-8\npid: 7\npgid: 7",
		},
		{
			name: "first supported encoding",
			s:    &Session{PID: 7, PGID: 7, Options: protocol.SessionOptions{Config: configOf(t, "ui.message-output=channel", "cmdserver.message-encodings=foo cbor")}},
			want: "capabilities: getencoding runcommand\nencoding: UTF-8\nmessage-encoding: cbor\npid: 7\npgid: 7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.Handler = &recorder{}
			res := serveScript(t, tt.s, nil)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.hello != tt.want {
				t.Fatalf("hello\n%q\nwant\n%q", res.hello, tt.want)
			}
			h, err := wire.ParseHello([]byte(res.hello))
			if err != nil || h.PID != tt.s.PID || !h.Has("runcommand") {
				t.Fatalf("ParseHello: %+v, %v", h, err)
			}
		})
	}
	t.Run("own pid by default", func(t *testing.T) {
		res := serveScript(t, &Session{Handler: &recorder{}}, nil)
		h, err := wire.ParseHello([]byte(res.hello))
		if err != nil || h.PID != os.Getpid() || h.PGID <= 0 {
			t.Fatalf("hello %q: %+v, %v", res.hello, h, err)
		}
	})
}

func configOf(t *testing.T, opts ...string) *protocol.Config {
	t.Helper()
	c := &protocol.Config{}
	if err := c.Apply(opts); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSessionNoSupportedMessageEncoding(t *testing.T) {
	rec := &recorder{}
	cfg := configOf(t, "ui.message-output=channel", "cmdserver.message-encodings=foo")
	res := serveScript(t, &Session{Handler: rec, Options: protocol.SessionOptions{Config: cfg}}, runcmd("echo", "x"))
	if res.hello != "" || len(res.frames) != 0 {
		t.Fatalf("frames sent before the abort: hello %q, %+v", res.hello, res.frames)
	}
	if res.status() != 255 {
		t.Fatalf("status %d, want 255", res.status())
	}
	if res.stderr != "abort: no supported message encodings: foo\n" {
		t.Fatalf("stderr %q", res.stderr)
	}
	if len(rec.ran()) != 0 {
		t.Fatal("a command ran")
	}
}

func TestSessionResults(t *testing.T) {
	in := cat(runcmd("exit", "0"), runcmd("exit", "3"), runcmd("exit", "-1"), runcmd("exit", "256"), runcmd("exit", "257"), wire.AppendBlock([]byte("runcommand\n"), nil))
	rec := &recorder{}
	res := serveScript(t, &Session{Handler: rec}, in)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := fmt.Sprint(res.results()); got != "[0 3 255 0 1 0]" {
		t.Fatalf("results %s", got)
	}
	if ran := rec.ran(); len(ran[5]) != 0 {
		t.Fatalf("empty block gave args %q, want none", ran[5])
	}
	for _, f := range res.frames {
		if f.ch == 'r' && f.size != 4 {
			t.Fatalf("result frame of %d bytes", f.size)
		}
	}
}

func TestSessionPanicRecovered(t *testing.T) {
	res := serveScript(t, &Session{Handler: &recorder{}}, cat(runcmd("panic"), runcmd("echo", "after")))
	if res.err != nil {
		t.Fatalf("session ended with %v", res.err)
	}
	if got := fmt.Sprint(res.results()); got != "[255 0]" {
		t.Fatalf("results %s", got)
	}
	if e := res.on('e'); e != "abort: command panicked: boom\n" {
		t.Fatalf("'e' = %q", e)
	}
	if o := res.on('o'); o != "after\n" {
		t.Fatalf("'o' = %q", o)
	}
	// With --traceback the stack comes along.
	res = serveScript(t, &Session{Handler: &recorder{}, Options: protocol.SessionOptions{GlobalOptions: true}}, runcmd("--traceback", "panic"))
	if e := res.on('e'); !strings.Contains(e, "goroutine") {
		t.Fatalf("--traceback: 'e' = %q", e)
	}
}

// TestSessionOptionsDoNotStick: per-request options apply to their
// request only.
func TestSessionOptionsDoNotStick(t *testing.T) {
	base := t.TempDir()
	sub := filepath.Join(base, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	in := cat(
		runcmd("--config", "a.b=1", "config", "a.b"),
		runcmd("config", "a.b"),
		runcmd("--config=a.b=2", "config", "a.b"),
		runcmd("config", "a.b"),
		runcmd("--cwd", "sub", "pwd"),
		runcmd("pwd"),
		runcmd("--cwd="+sub, "pwd"),
		runcmd("pwd"),
		runcmd("-R", sub, "pwd"),
		runcmd("pwd"),
		runcmd("-Rsub", "pwd"),
		runcmd("--repository="+sub, "pwd"),
		runcmd("pwd"),
		runcmd("--cwd", "nonexistent", "pwd"),
		runcmd("pwd"),
		runcmd("--config", "broken", "pwd"),
		runcmd("config", "a.b"),
	)
	res := serveScript(t, &Session{Handler: &recorder{}, Options: protocol.SessionOptions{Dir: base, GlobalOptions: true}}, in)
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := strings.Join([]string{"1", "<unset>", "2", "<unset>", sub, base, sub, base, sub, base, sub, sub, base, base, "<unset>"}, "\n") + "\n"
	if o := res.on('o'); o != want {
		t.Fatalf("output\n%s\nwant\n%s", o, want)
	}
	if got := fmt.Sprint(res.results()); got != "[0 0 0 0 0 0 0 0 0 0 0 0 0 255 0 255 0]" {
		t.Fatalf("results %s", got)
	}
	e := res.on('e')
	if !strings.Contains(e, "abort: cannot change directory to '"+filepath.Join(base, "nonexistent")+"'") ||
		!strings.Contains(e, "abort: malformed --config option: 'broken'") {
		t.Fatalf("'e' = %q", e)
	}
}

func TestSessionPrompt(t *testing.T) {
	lineAnswer := func(s string) []byte { return wire.AppendBlock(nil, []byte(s)) }
	tests := []struct {
		name   string
		input  []byte
		out    string
		err    string
		result string
		asks   int // 'L' requests
	}{
		{
			name:  "interactive answer",
			input: cat(runcmd("--config", "ui.interactive=true", "prompt"), lineAnswer("bob\n"), runcmd("echo", "next")),
			out:   "name? answer=bob\nnext\n", result: "[0 0]", asks: 1,
		},
		{
			name:  "interactive answer in pieces",
			input: cat(runcmd("--config", "ui.interactive=yes", "prompt"), lineAnswer("bo"), lineAnswer("b\n")),
			out:   "name? answer=bob\n", result: "[0]", asks: 2,
		},
		{
			name:  "interactive empty line takes the default",
			input: cat(runcmd("--config", "ui.interactive=1", "prompt"), lineAnswer("\n")),
			out:   "name? answer=def\n", result: "[0]", asks: 1,
		},
		{
			name:  "non-interactive takes the default without asking",
			input: cat(runcmd("prompt"), runcmd("echo", "next")),
			out:   "name? def\nanswer=def\nnext\n", result: "[0 0]",
		},
		{
			name:  "end of input: response expected, session goes on",
			input: cat(runcmd("--config", "ui.interactive=true", "prompt"), lineAnswer(""), runcmd("echo", "next")),
			out:   "name? next\n", err: "abort: response expected\n", result: "[255 0]", asks: 1,
		},
		{
			name:  "answer longer than asked is kept whole",
			input: cat(runcmd("--config", "ui.interactive=true", "prompt"), lineAnswer(strings.Repeat("x", 5000)+"\n"), runcmd("echo", "next")),
			out:   "name? answer=" + strings.Repeat("x", 5000) + "\nnext\n", result: "[0 0]", asks: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := serveScript(t, &Session{Handler: &recorder{}, Options: protocol.SessionOptions{GlobalOptions: true}}, tt.input)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if o := res.on('o'); o != tt.out {
				t.Fatalf("'o' = %q, want %q", o, tt.out)
			}
			if e := res.on('e'); e != tt.err {
				t.Fatalf("'e' = %q, want %q", e, tt.err)
			}
			if got := fmt.Sprint(res.results()); got != tt.result {
				t.Fatalf("results %s, want %s", got, tt.result)
			}
			asks := 0
			for _, f := range res.frames {
				if f.ch == 'L' {
					asks++
					if f.size != 4096 {
						t.Fatalf("'L' asks for %d bytes, want 4096", f.size)
					}
				}
				if f.ch == 'I' {
					t.Fatal("a prompt asked on 'I'")
				}
			}
			if asks != tt.asks {
				t.Fatalf("%d 'L' requests, want %d", asks, tt.asks)
			}
		})
	}
}

func TestSessionInput(t *testing.T) {
	// io.Copy of stdin asks for copyRequestSize bytes at a time, whatever
	// its own buffer. The second answer is longer than that: the excess
	// must reach the command, not be lost or read as a request.
	data := bytes.Repeat([]byte("0123456789\x00\n"), 40000)
	answers := cat(wire.AppendBlock(nil, data[:5000]), wire.AppendBlock(nil, data[5000:]), wire.AppendBlock(nil, nil))
	res := serveScript(t, &Session{Handler: &recorder{}}, cat(runcmd("cat"), answers, runcmd("echo", "next")))
	if res.err != nil {
		t.Fatal(res.err)
	}
	if o := res.on('o'); o != string(data)+"next\n" {
		t.Fatalf("'o' has %d bytes, want %d", len(o), len(data)+5)
	}
	if got := fmt.Sprint(res.results()); got != "[0 0]" {
		t.Fatalf("results %s", got)
	}
	var asks []uint32
	for _, f := range res.frames {
		if f.ch == 'I' {
			asks = append(asks, f.size)
		}
	}
	if fmt.Sprint(asks) != fmt.Sprint([]uint32{copyRequestSize, copyRequestSize, copyRequestSize}) {
		t.Fatalf("'I' requests %v, want three of %d", asks, copyRequestSize)
	}
}

// TestSessionInputRead: a command reading with its own buffer asks for
// exactly that much, and an answer longer than asked reaches its later
// reads in order.
func TestSessionInputRead(t *testing.T) {
	answers := cat(wire.AppendBlock(nil, []byte("abcdefghijklmnopqrstuvwxy")), wire.AppendBlock(nil, []byte("z")), wire.AppendBlock(nil, nil))
	res := serveScript(t, &Session{Handler: &recorder{}}, cat(runcmd("readsome", "10"), answers, runcmd("echo", "next")))
	if res.err != nil {
		t.Fatal(res.err)
	}
	if o, want := res.on('o'), `"abcdefghij";"klmnopqrst";"uvwxy";"z";next`+"\n"; o != want {
		t.Fatalf("'o' = %q, want %q", o, want)
	}
	var asks []uint32
	for _, f := range res.frames {
		if f.ch == 'I' {
			asks = append(asks, f.size)
		}
	}
	if fmt.Sprint(asks) != "[10 10 10]" {
		t.Fatalf("'I' requests %v, want [10 10 10]: one per read that was not served from the excess", asks)
	}
}

func TestSessionMessages(t *testing.T) {
	t.Run("channel", func(t *testing.T) {
		cfg := configOf(t, "ui.message-output=channel")
		res := serveScript(t, &Session{Handler: &recorder{}, Options: protocol.SessionOptions{Config: cfg}}, runcmd("message"))
		if res.err != nil {
			t.Fatal(res.err)
		}
		var got []string
		for _, f := range res.frames {
			if f.ch != 'm' {
				continue
			}
			m, err := message.Decode([]byte(f.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != 2 {
				t.Fatalf("message has keys %v, want type and data", m)
			}
			got = append(got, m["type"]+":"+m["data"])
		}
		if fmt.Sprint(got) != fmt.Sprint([]string{"status:st\n", "warning:wa\n", "error:er\n"}) {
			t.Fatalf("messages %q", got)
		}
		if res.on('o') != "" || res.on('e') != "" {
			t.Fatalf("messages leaked to o/e: %q %q", res.on('o'), res.on('e'))
		}
	})
	t.Run("per-request channel option without the hello's encoding stays on stdio", func(t *testing.T) {
		res := serveScript(t, &Session{Handler: &recorder{}, Options: protocol.SessionOptions{GlobalOptions: true}}, runcmd("--config", "ui.message-output=channel", "message"))
		if res.on('m') != "" || res.on('o') != "st\n" || res.on('e') != "wa\ner\n" {
			t.Fatalf("o %q e %q m %q", res.on('o'), res.on('e'), res.on('m'))
		}
	})
	t.Run("stdio", func(t *testing.T) {
		res := serveScript(t, &Session{Handler: &recorder{}}, runcmd("message"))
		if res.on('m') != "" || res.on('o') != "st\n" || res.on('e') != "wa\ner\n" {
			t.Fatalf("o %q e %q m %q", res.on('o'), res.on('e'), res.on('m'))
		}
	})
}

func TestSessionExtraCommands(t *testing.T) {
	var got []byte
	s := &Session{Handler: &recorder{}, Commands: map[string]CommandFunc{
		"setthing": func(ctx context.Context, s *Session) error {
			b, err := s.ReadBlock()
			if err != nil {
				return err
			}
			got = b
			return s.Frames().WriteFrame('r', []byte("ok"))
		},
		"fail": func(ctx context.Context, s *Session) error { return errors.New("nope") },
	}}
	res := serveScript(t, s, cat(wire.AppendBlock([]byte("setthing\n"), []byte("v")), []byte("fail\n"), runcmd("echo", "never")))
	if string(got) != "v" || res.frames[0] != (frame{'r', "ok", 2}) {
		t.Fatalf("got %q, frames %+v", got, res.frames)
	}
	if res.status() != 255 || res.on('e') != "abort: fail: nope\n" {
		t.Fatalf("status %d, 'e' %q", res.status(), res.on('e'))
	}
	// A truncated block of an extra command is status 1, nothing on 'e'.
	res = serveScript(t, &Session{Handler: &recorder{}, Commands: s.Commands}, []byte("setthing\n\x00\x00\x00\x05ab"))
	if res.status() != 1 || res.on('e') != "" {
		t.Fatalf("status %d, 'e' %q", res.status(), res.on('e'))
	}
}

// TestSessionLeavesArgsAloneWithoutGlobalOptions: an application's own
// --config FILE, -R and --cwd reach its Handler as they were sent.
func TestSessionLeavesArgsAloneWithoutGlobalOptions(t *testing.T) {
	rec := &recorder{}
	res := serveScript(t, &Session{Handler: rec, Options: protocol.SessionOptions{Dir: "/"}}, cat(
		runcmd("--config", "my.yaml", "show"),
		runcmd("-R", "x", "--cwd", "nowhere", "--pager", "maybe", "pwd"),
	))
	if res.err != nil {
		t.Fatal(res.err)
	}
	// The recorder knows neither command: its own error, not the session's.
	if e := res.on('e'); e != "unknown --config\nunknown -R\n" {
		t.Fatalf("'e' = %q", e)
	}
	want := "[[--config my.yaml show] [-R x --cwd nowhere --pager maybe pwd]]"
	if got := fmt.Sprint(rec.ran()); got != want {
		t.Fatalf("handler got %s, want %s", got, want)
	}
}
