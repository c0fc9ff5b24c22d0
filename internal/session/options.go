package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cmdsrv/cmdsrv/internal/hostpath"
)

// GlobalOptions are the options that may lead a command line and apply to
// that command only: hg's --config, --cwd, -R/--repository, --pager and
// --traceback. hg's --no-profile is accepted among them and dropped (chg
// and some clients send it; it means nothing here).
type GlobalOptions struct {
	Config     []string // "section.name=value", in order
	Cwd        string
	Repository string
	Pager      string // "on", "off", "auto" or "" (unset)
	Traceback  bool
}

// Option is one of Mercurial's options that cmdsrv reads, in the one
// table (KnownOptions) that both the global options of every command line and
// `serve`'s options come from.
type Option struct {
	// Names are its spellings, the canonical long one first: "--name"
	// and any short "-x".
	Names []string
	// Value: it takes one, as "--name V", "--name=V", "-x V" or "-xV".
	Value bool
	// Global: one of hg's global options, which may lead any command
	// line (ParseGlobalOptions). Serve: accepted among serve's options.
	Global, Serve bool
}

// Name is the option's canonical name.
func (o *Option) Name() string { return o.Names[0] }

// KnownOptions are every option cmdsrv reads from a command line.
var KnownOptions = []*Option{
	{Names: []string{"--config"}, Value: true, Global: true, Serve: true},
	{Names: []string{"--cwd"}, Value: true, Global: true, Serve: true},
	{Names: []string{"--repository", "--repo", "-R"}, Value: true, Global: true, Serve: true},
	{Names: []string{"--pager"}, Value: true, Global: true},
	{Names: []string{"--traceback"}, Global: true, Serve: true},
	// chg and some clients send it; it means nothing here.
	{Names: []string{"--no-profile"}, Global: true, Serve: true},
	{Names: []string{"--cmdserver"}, Value: true, Serve: true},
	{Names: []string{"--address", "-a"}, Value: true, Serve: true},
	{Names: []string{"--daemon", "-d"}, Serve: true},
	{Names: []string{"--daemon-postexec"}, Value: true, Serve: true},
	{Names: []string{"--pid-file"}, Value: true, Serve: true},
	{Names: []string{"--status"}, Serve: true},
	{Names: []string{"--stop"}, Serve: true},
	{Names: []string{"--restart"}, Serve: true},
}

// IsGlobal and IsServe select options for ScanOption.
func IsGlobal(o *Option) bool { return o.Global }
func IsServe(o *Option) bool  { return o.Serve }

// ScanOption reads the option at args[i], if it is one of KnownOptions that in
// selects: the option, its value ("" for a flag) and the index of the
// argument after it. opt is nil when args[i] is no such option (a flag
// given a value is none either); err is set when its value is missing.
func ScanOption(args []string, i int, in func(*Option) bool) (opt *Option, val string, next int, err error) {
	a := args[i]
	name, hasVal := a, false
	switch {
	case strings.HasPrefix(a, "--"):
		name, val, hasVal = strings.Cut(a, "=")
	case strings.HasPrefix(a, "-") && len(a) > 2:
		name, val, hasVal = a[:2], a[2:], true // -Rdir
	}
	opt = lookupOption(name)
	if opt == nil || !in(opt) || (hasVal && !opt.Value) {
		return nil, "", i, nil
	}
	switch {
	case !opt.Value || hasVal:
		return opt, val, i + 1, nil
	case i+1 >= len(args):
		return opt, "", len(args), fmt.Errorf("option %s requires argument", name)
	}
	return opt, args[i+1], i + 2, nil
}

func lookupOption(name string) *Option {
	for _, o := range KnownOptions {
		for _, n := range o.Names {
			if n == name {
				return o
			}
		}
	}
	return nil
}

// ParseGlobalOptions consumes global options at the start of args and
// returns them with the remaining arguments (the command and its own
// arguments). A lone "--" ends the options and is dropped.
func ParseGlobalOptions(args []string) (GlobalOptions, []string, error) {
	var g GlobalOptions
	for i := 0; i < len(args); {
		if args[i] == "--" {
			return g, args[i+1:], nil
		}
		opt, val, next, err := ScanOption(args, i, IsGlobal)
		if err == nil && opt == nil {
			return g, args[i:], nil
		}
		if err == nil {
			err = g.Set(opt, val)
		}
		if err != nil {
			return g, nil, err
		}
		i = next
	}
	return g, nil, nil
}

// Set records a global option read by ScanOption.
func (g *GlobalOptions) Set(opt *Option, val string) error {
	switch opt.Name() {
	case "--config":
		g.Config = append(g.Config, val)
	case "--cwd":
		g.Cwd = val
	case "--repository":
		g.Repository = val
	case "--pager":
		switch val {
		case "on", "off", "auto":
			g.Pager = val
		default:
			return fmt.Errorf("invalid value for --pager: %s (use on, off or auto)", val)
		}
	case "--traceback":
		g.Traceback = true
	}
	return nil
}

// Dir returns the working directory these options give a command that
// starts in base: -R, then --cwd, each relative to the one before. It
// checks that the directory exists.
func (g GlobalOptions) Dir(base string) (string, error) {
	dir := base
	for _, d := range []string{g.Repository, g.Cwd} {
		if d == "" {
			continue
		}
		d = hostpath.Resolve(dir, d) // Windows: `\x` is on dir's drive
		fi, err := os.Stat(d)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("cannot change directory to '%s': %w", d, err)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("cannot change directory to '%s': not a directory", d)
		}
		dir = filepath.Clean(d)
	}
	return dir, nil
}
