//go:build !linux

package procfs

import (
	"os"
	"syscall"
)

// Stat stats the file the descriptor has open.
func (d FD) Stat() (FileStat, error) {
	fi, err := os.Stat(d.proc.Path("fd", d.Name))
	if err != nil {
		return FileStat{}, err
	}
	st := FileStat{Size: fi.Size(), Mode: 0o100000}
	if !fi.Mode().IsRegular() {
		st.Mode = 0
	}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.Dev, st.Ino = uint64(s.Dev), uint64(s.Ino)
	}
	return st, nil
}

// Target reads the link.
func (d FD) Target() (string, error) { return os.Readlink(d.proc.Path("fd", d.Name)) }
