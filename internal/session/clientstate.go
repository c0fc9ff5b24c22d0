package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AddClientState adds the requests "chdir" and "setenv" to s.Commands,
// in chg's wire format (a block, no answer): they set the working
// directory and the environment of the session's later commands
// (Request.Dir and Request.Env, lent to the process for a Handler that
// asks for its client's). A unix service offers them so that a client
// can give its commands its own directory and environment, as chg's
// client does (chg's own requests also change the process's, which is
// attached to the client).
func AddClientState(s *Session) {
	if s.Commands == nil {
		s.Commands = make(map[string]CommandFunc)
	}
	s.Commands["chdir"] = chdirRequest
	s.Commands["setenv"] = setenvRequest
}

func chdirRequest(_ context.Context, s *Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	dir, err := ParseChdir(b)
	if err != nil || dir == "" {
		return err
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("chdir: %q is not an absolute path", dir)
	}
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("chdir: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("chdir: %s is not a directory", dir)
	}
	s.SetWorkDir(filepath.Clean(dir))
	return nil
}

func setenvRequest(_ context.Context, s *Session) error {
	b, err := s.ReadBlock()
	if err != nil {
		return err
	}
	env, err := ParseSetenv(b)
	if err != nil {
		return err
	}
	s.SetEnviron(env)
	return nil
}

// ParseChdir decodes a chdir block: the directory, "" for none (an empty
// block).
func ParseChdir(b []byte) (string, error) {
	if bytes.IndexByte(b, 0) >= 0 {
		return "", errors.New("invalid directory in chdir request: it contains a NUL byte")
	}
	return string(b), nil
}

// ParseSetenv decodes a setenv block: NUL-separated NAME=VALUE entries,
// none of them without a name.
func ParseSetenv(b []byte) ([]string, error) {
	var env []string
	if len(b) > 0 {
		env = strings.Split(string(b), "\x00")
	}
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return nil, fmt.Errorf("unexpected value in setenv request: %q is not NAME=VALUE", e)
		}
	}
	return env, nil
}
