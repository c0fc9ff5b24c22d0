// Package envlist edits environment lists (KEY=VALUE strings) passed to a
// child process.
//
// A list handed to execve as is may hold a name twice, and which copy the
// child sees is the child's choice: a Go program keeps the first, so
// appending NAME=VALUE to os.Environ() does not override an inherited NAME.
// Set removes the inherited copies first.
package envlist

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
