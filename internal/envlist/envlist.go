// Package envlist edits environment lists (KEY=VALUE strings): those passed
// to a child process, and the process's own (Replace).
//
// A list handed to execve as is may hold a name twice, and which copy the
// child sees is the child's choice: a Go program keeps the first, so
// appending NAME=VALUE to os.Environ() does not override an inherited NAME.
// Set removes the inherited copies first.
package envlist

import (
	"fmt"
	"os"
	"strings"
)

// Set returns env with every NAME= entry removed and name=value appended.
// env itself is not changed.
func Set(env []string, name, value string) []string {
	return append(Without(env, name), name+"="+value)
}

// Without returns a copy of env without its name= entries.
func Without(env []string, name string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Replace makes this process's environment exactly env (the last entry of
// a name wins). Only the names that differ are touched: chg sends its
// whole environment on every call, and a reused worker restores its own
// after every client, and either is mostly what the process has already,
// so this costs a map of each side rather than a Clearenv and a Setenv
// per variable.
func Replace(env []string) error {
	want := make(map[string]string, len(env))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		want[k] = v
	}
	have := make(map[string]string, len(want))
	for _, e := range os.Environ() {
		k, v, _ := strings.Cut(e, "=")
		if _, dup := have[k]; dup || k == "" {
			// A name twice, or an entry without one (possible in an
			// inherited environment): start from nothing instead.
			os.Clearenv()
			have = nil
			break
		}
		have[k] = v
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			if err := os.Unsetenv(k); err != nil {
				return fmt.Errorf("unsetting %s: %w", k, err)
			}
		}
	}
	for k, v := range want {
		if old, ok := have[k]; !ok || old != v {
			if err := os.Setenv(k, v); err != nil {
				return fmt.Errorf("setting %s: %w", k, err)
			}
		}
	}
	return nil
}

// Lookup finds name in an environment list of "NAME=VALUE" entries; the
// last entry wins, as in the os package.
func Lookup(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
