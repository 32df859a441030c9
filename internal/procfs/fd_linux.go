package procfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// Stat stats the file the descriptor has open (through the /proc magic
// link, relative to the open fd directory).
func (d FD) Stat() (FileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(d.dir.Fd()), d.Name, &st, 0); err != nil {
		return FileStat{}, &os.PathError{Op: "stat", Path: d.proc.Path("fd", d.Name), Err: err}
	}
	return FileStat{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Mode: uint32(st.Mode), Size: st.Size}, nil
}

// Target reads the link: the open file's path, with " (deleted)" appended
// when it was unlinked, or a pseudo name such as "pipe:[1234]".
func (d FD) Target() (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(int(d.dir.Fd()), d.Name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: d.proc.Path("fd", d.Name), Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= 1<<16 {
			return string(buf[:n]), nil // PATH_MAX is 4096: a fixture's oddity
		}
		buf = make([]byte, 2*len(buf))
	}
}
