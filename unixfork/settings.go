package unixfork

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cmdsrv/cmdsrv/protocol"
)

// configDuration reads a duration setting: a Go duration ("500ms", "2s")
// or a bare number of seconds; "" or absent gives def.
func configDuration(cfg *protocol.Config, key string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(cfg.Get(key, ""))
	if v == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s: %q is not a duration (like 500ms, 2s or a number of seconds)", key, v)
	}
	return d, nil
}
