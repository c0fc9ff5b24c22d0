//go:build darwin || freebsd || netbsd

package fresh

import "syscall"

func ctimeOf(s *syscall.Stat_t) int64 { return int64(s.Ctimespec.Sec)*1e9 + int64(s.Ctimespec.Nsec) }
func mtimeOf(s *syscall.Stat_t) int64 { return int64(s.Mtimespec.Sec)*1e9 + int64(s.Mtimespec.Nsec) }
