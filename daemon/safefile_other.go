//go:build !unix

package daemon

import "os"

// openOwned opens path with flag; without O_NOFOLLOW and file owners here,
// it only refuses a symbolic link seen just before.
func openOwned(path string, flag int, perm uint32) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return nil, &NotOwnedError{Path: path, Reason: "is a symbolic link"}
	}
	return os.OpenFile(path, flag, os.FileMode(perm))
}

// replaceFile writes data to a new file in dir and renames it to base.
func replaceFile(dir, base string, data []byte, perm uint32) error {
	f, err := os.CreateTemp(dir, "."+base+".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dir+string(os.PathSeparator)+base)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
