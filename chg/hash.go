package chg

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cmdsrv/cmdsrv/internal/envlist"
	"github.com/cmdsrv/cmdsrv/protocol"
)

// State is what a chg server computed at start-up and what validate
// compares a client against.
type State struct {
	// BaseAddress is the --address chg gave, the symlink it renames.
	BaseAddress string `json:"base"`
	// ConfigHash covers the sensitive configuration and environment.
	ConfigHash string `json:"config"`
	// MtimeHash covers mtime and size of MtimePaths.
	MtimeHash  string   `json:"mtime"`
	MtimePaths []string `json:"paths"`
}

// NewState computes the hashes of a server started with cfg in
// environment env, listening for chg at address.
func NewState(address string, cfg *protocol.Config, env []string, opts *Options) (*State, error) {
	if opts == nil {
		opts = &Options{}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("getting executable: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	paths := append([]string{exe}, opts.MtimePaths...)
	return &State{
		BaseAddress: address,
		ConfigHash:  ConfigHash(cfg, CleanEnv(env), opts),
		MtimeHash:   MtimeHash(paths),
		MtimePaths:  paths,
	}, nil
}

// CleanEnv drops the bookkeeping variables chg adds to the environment of
// the server it starts (CHGINTERNALMARK, CHG_CLEAR_LC_CTYPE,
// CHGORIG_LC_CTYPE) and restores LC_CTYPE from CHGORIG_LC_CTYPE, so that
// the server's own environment hashes like the client's.
func CleanEnv(env []string) []string {
	out := make([]string, 0, len(env))
	orig, hasOrig := envlist.Lookup(env, "CHGORIG_LC_CTYPE")
	_, clear := envlist.Lookup(env, "CHG_CLEAR_LC_CTYPE")
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		switch {
		case k == "CHGINTERNALMARK" || k == "CHGORIG_LC_CTYPE" || k == "CHG_CLEAR_LC_CTYPE":
			continue
		case k == "LC_CTYPE" && (hasOrig || clear):
			continue
		}
		out = append(out, e)
	}
	if hasOrig {
		out = append(out, "LC_CTYPE="+orig)
	}
	return out
}

// HashAddress is the socket a server with confighash binds: the base
// address with everything after the first '.' of its base name dropped
// (chg appends ".PID" to the name it gives), then "-HASH".
func HashAddress(base, hash string) string {
	dir, name := filepath.Split(base)
	name, _, _ = strings.Cut(name, ".")
	return filepath.Join(dir, name) + "-" + hash
}

// ConfigHash hashes the sensitive configuration and environment: 6 hex
// digits of each, as Mercurial's chg server does.
func ConfigHash(cfg *protocol.Config, env []string, opts *Options) string {
	if opts == nil {
		opts = &Options{}
	}
	var items []string
	for _, k := range cfg.Keys() {
		if sensitiveKey(k, opts.SensitiveConfig) {
			v, _ := cfg.Lookup(k)
			items = append(items, k+"="+v)
		}
	}
	var envItems []string
	patterns := append(append([]string(nil), DefaultSensitiveEnv...), opts.SensitiveEnv...)
	seen := map[string]bool{}
	for i := len(env) - 1; i >= 0; i-- { // the last entry of a name wins
		k, _, _ := strings.Cut(env[i], "=")
		if !seen[k] && !clientOnlyEnv[k] && matchEnv(k, patterns) {
			envItems = append(envItems, env[i])
		}
		seen[k] = true
	}
	sort.Strings(envItems)
	return hashList(items)[:6] + hashList(envItems)[:6]
}

func sensitiveKey(key string, list []string) bool {
	section, _, _ := strings.Cut(key, ".")
	for _, s := range list {
		if s == key || s == section {
			return true
		}
	}
	return false
}

func matchEnv(name string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == p {
			return true
		}
	}
	return false
}

// MtimeHash hashes mtime and size of each path (a missing file counts as
// such): 12 hex digits.
func MtimeHash(paths []string) string {
	items := make([]string, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			items[i] = p + ":missing"
			continue
		}
		items[i] = fmt.Sprintf("%s:%d:%d", p, fi.ModTime().UnixNano(), fi.Size())
	}
	return hashList(items)[:12]
}

func hashList(items []string) string {
	h := sha256.New()
	for _, it := range items {
		fmt.Fprintf(h, "%d:%s\n", len(it), it)
	}
	return hex.EncodeToString(h.Sum(nil))
}
