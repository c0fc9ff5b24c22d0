package fresh

import (
	"encoding/json"
	"fmt"
)

// StampsEnv carries Stamps from the process that starts a server's
// process to it: its package initialisation reads files it can only
// fingerprint later, as its main starts, and a change between the two
// would go unseen (a file truncated, then written, read empty, then
// fingerprinted full). The starter stamps them just before the exec;
// the started process compares (StampsChanged).
const StampsEnv = "CMDSRV_INIT_STAMPS"

// Stamps records the stat of each path (an error's kind for one that
// cannot be stat'ed), encoded for StampsEnv.
func Stamps(paths []string) string {
	m := make(map[string]string, len(paths))
	for _, p := range paths {
		if p != "" {
			m[p] = stamp(p)
		}
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

// StampsChanged reports a path of encoded (Stamps' output) whose stat is
// not what it was then; false when encoded cannot be decoded.
func StampsChanged(encoded string) (string, bool) {
	var m map[string]string
	if json.Unmarshal([]byte(encoded), &m) != nil {
		return "", false
	}
	for p, was := range m {
		if stamp(p) != was {
			return p, true
		}
	}
	return "", false
}

func stamp(path string) string {
	st, err := statPath(path)
	if err != nil {
		return "error " + errorKind(err)
	}
	return fmt.Sprintf("%+v", st)
}
