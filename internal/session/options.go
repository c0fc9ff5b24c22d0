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

// ParseGlobalOptions consumes global options at the start of args and
// returns them with the remaining arguments (the command and its own
// arguments). A lone "--" ends the options and is dropped.
func ParseGlobalOptions(args []string) (GlobalOptions, []string, error) {
	var g GlobalOptions
	i := 0
	value := func(name string) (string, error) {
		if i+1 >= len(args) {
			return "", fmt.Errorf("option %s requires argument", name)
		}
		i++
		return args[i], nil
	}
	for ; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			hasVal = false
			name = a
		}
		var err error
		switch {
		case a == "--":
			return g, args[i+1:], nil
		case name == "--config":
			if !hasVal {
				val, err = value(name)
			}
			g.Config = append(g.Config, val)
		case name == "--cwd":
			if !hasVal {
				val, err = value(name)
			}
			g.Cwd = val
		case name == "--repository" || name == "--repo":
			if !hasVal {
				val, err = value(name)
			}
			g.Repository = val
		case a == "-R":
			g.Repository, err = value(a)
		case strings.HasPrefix(a, "-R") && !strings.HasPrefix(a, "--"):
			g.Repository = a[2:]
		case name == "--pager":
			if !hasVal {
				val, err = value(name)
			}
			switch val {
			case "on", "off", "auto":
				g.Pager = val
			default:
				err = fmt.Errorf("invalid value for --pager: %s (use on, off or auto)", val)
			}
		case a == "--traceback":
			g.Traceback = true
		case a == "--no-profile":
		default:
			return g, args[i:], nil
		}
		if err != nil {
			return g, nil, err
		}
	}
	return g, nil, nil
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
