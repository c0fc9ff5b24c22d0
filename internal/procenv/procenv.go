// Package procenv replaces the process environment with a given one,
// touching only the variables that differ.
package procenv

import (
	"fmt"
	"os"
	"strings"
)

// Replace makes the process environment exactly env (the last entry of
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
