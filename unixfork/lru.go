package unixfork

// lru remembers the most recently used warm-up keys (Request.UseKey), most
// recent first, for new workers to prepare. Not safe for concurrent use:
// Server.mu guards it.
type lru struct {
	max  int
	keys []string
}

func newLRU(max int) *lru { return &lru{max: max} }

func (l *lru) add(key string) {
	if l == nil || l.max <= 0 || key == "" {
		return
	}
	for i, k := range l.keys {
		if k == key {
			copy(l.keys[1:i+1], l.keys[:i])
			l.keys[0] = key
			return
		}
	}
	if len(l.keys) < l.max {
		l.keys = append(l.keys, "")
	}
	copy(l.keys[1:], l.keys)
	l.keys[0] = key
}

func (l *lru) list() []string {
	if l == nil {
		return nil
	}
	return append([]string(nil), l.keys...)
}
