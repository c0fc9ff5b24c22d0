package protocol

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Config holds hg-style configuration: values keyed by "section.name".
// The zero value is empty and ready to use. A Config is not safe for
// concurrent mutation; sessions hand each request its own copy.
type Config struct {
	values map[string]string
}

// ConfigError reports a malformed --config option.
type ConfigError struct {
	Option string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("malformed --config option: '%s' (use --config section.name=value)", e.Option)
}

// parseConfigOption splits "section.name=value" into key and value.
func parseConfigOption(opt string) (key, value string, err error) {
	k, v, ok := strings.Cut(opt, "=")
	section, name, dotted := strings.Cut(k, ".")
	if !ok || !dotted || strings.TrimSpace(section) == "" || strings.TrimSpace(name) == "" {
		return "", "", &ConfigError{Option: opt}
	}
	return strings.TrimSpace(k), v, nil
}

// Apply parses each "section.name=value" option and sets it.
func (c *Config) Apply(opts []string) error {
	for _, o := range opts {
		k, v, err := parseConfigOption(o)
		if err != nil {
			return err
		}
		c.Set(k, v)
	}
	return nil
}

// Set sets key ("section.name") to value.
func (c *Config) Set(key, value string) {
	if c.values == nil {
		c.values = make(map[string]string)
	}
	c.values[key] = value
}

// Delete removes key.
func (c *Config) Delete(key string) {
	delete(c.values, key)
}

// Lookup returns the value of key and whether it is set.
func (c *Config) Lookup(key string) (string, bool) {
	if c == nil {
		return "", false
	}
	v, ok := c.values[key]
	return v, ok
}

// Get returns the value of key, or def when it is not set.
func (c *Config) Get(key, def string) string {
	if v, ok := c.Lookup(key); ok {
		return v
	}
	return def
}

// Bool returns key as a boolean in Mercurial's spellings (1, yes, true, on,
// always / 0, no, false, off, never), or def when unset.
func (c *Config) Bool(key string, def bool) (bool, error) {
	v, ok := c.Lookup(key)
	if !ok {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "true", "on", "always":
		return true, nil
	case "0", "no", "false", "off", "never", "":
		return false, nil
	}
	return def, fmt.Errorf("%s is not a boolean ('%s')", key, v)
}

// Int returns key as an integer, or def when unset.
func (c *Config) Int(key string, def int) (int, error) {
	v, ok := c.Lookup(key)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return def, fmt.Errorf("%s is not a valid integer ('%s')", key, v)
	}
	return n, nil
}

// Bytes returns key as a byte count, accepting Mercurial's units ("500",
// "500 KB", "1.5 MB", "2g"), or def when unset.
func (c *Config) Bytes(key string, def int64) (int64, error) {
	v, ok := c.Lookup(key)
	if !ok {
		return def, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return def, fmt.Errorf("%s is not a byte quantity ('%s')", key, v)
	}
	return n, nil
}

// ParseSize parses a byte quantity with an optional unit (b, kb, mb, gb,
// also k, m, g), case-insensitive, as Mercurial's config does.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid byte quantity %q", s)
	}
	return int64(f * mult), nil
}

// Keys returns the set keys, sorted.
func (c *Config) Keys() []string {
	if c == nil {
		return nil
	}
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Clone returns an independent copy of c (nil gives an empty Config).
func (c *Config) Clone() *Config {
	n := &Config{values: make(map[string]string)}
	if c != nil {
		for k, v := range c.values {
			n.values[k] = v
		}
	}
	return n
}
