//go:build !linux

package procstat

// Read fails: no /proc here.
func Read(int) (Stat, error) { return Stat{}, ErrUnsupported }

// Each fails: no /proc here.
func Each(func(int, Stat) bool) error { return ErrUnsupported }
