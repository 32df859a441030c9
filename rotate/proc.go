package rotate

import (
	"context"
	"os"
	"syscall"

	"github.com/tendkit/tend/internal/procfs"
)

// fdInfo is what /proc/PID/fdinfo/FD says about one open file.
type fdInfo = procfs.FDInfo

// opener is a process descriptor open on a given file.
type opener struct {
	PID int
	FD  int
	fdInfo
}

// procFS reads processes under a /proc mount point.
type procFS string

// openers lists the descriptors of all processes (but this one) that have
// the file st open, in one walk of /proc/*/fd. Processes that vanish
// meanwhile are skipped.
func (p procFS) openers(st os.FileInfo) []opener {
	want, _ := st.Sys().(*syscall.Stat_t)
	if want == nil {
		return nil
	}
	self := os.Getpid()
	var out []opener
	_ = procfs.NewFS(string(p)).WalkFDs(context.Background(), func(d procfs.FD) error {
		if d.PID == self {
			return procfs.SkipProc
		}
		if !sameOpenFile(d, want) {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			out = append(out, opener{PID: d.PID, FD: d.FD, fdInfo: fi})
		}
		return nil
	})
	return out
}

// fdsOpenOn lists pid's descriptors open on the file st.
func (p procFS) fdsOpenOn(pid int, st os.FileInfo) []int {
	want, _ := st.Sys().(*syscall.Stat_t)
	var out []int
	_ = procfs.NewFS(string(p)).Proc(pid).WalkFDs(context.Background(), func(d procfs.FD) error {
		if want != nil && sameOpenFile(d, want) {
			out = append(out, d.FD)
		}
		return nil
	})
	return out
}

// sameOpenFile reports whether the descriptor has the file want open.
func sameOpenFile(d procfs.FD, want *syscall.Stat_t) bool {
	s, err := d.Stat()
	return err == nil && s.Ino == want.Ino && s.Dev == uint64(want.Dev)
}
