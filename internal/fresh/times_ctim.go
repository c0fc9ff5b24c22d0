//go:build linux || openbsd || dragonfly || solaris || illumos || aix

package fresh

import "syscall"

func ctimeOf(s *syscall.Stat_t) int64 { return int64(s.Ctim.Sec)*1e9 + int64(s.Ctim.Nsec) }
func mtimeOf(s *syscall.Stat_t) int64 { return int64(s.Mtim.Sec)*1e9 + int64(s.Mtim.Nsec) }
