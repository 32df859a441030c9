package rotate

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"

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

// fileKey names a file by device and inode.
type fileKey struct{ dev, ino uint64 }

func keyOf(st os.FileInfo) (fileKey, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{uint64(s.Dev), s.Ino}, true
}

// procIndex is one walk of /proc/*/fd: the descriptors of every process
// (but this one) on regular files, by file. A run over thousands of logs
// looks up each log and backup here instead of walking /proc per file.
type procIndex struct {
	fds map[fileKey][]procfs.FD
	at  time.Time
}

// index walks /proc/*/fd once. Processes that vanish meanwhile are
// skipped.
func (p procFS) index() *procIndex {
	x := &procIndex{fds: map[fileKey][]procfs.FD{}, at: time.Now()}
	self := os.Getpid()
	_ = procfs.NewFS(string(p)).WalkFDs(context.Background(), func(d procfs.FD) error {
		if d.PID == self {
			return procfs.SkipProc
		}
		if s, err := d.Stat(); err == nil && s.IsRegular() {
			k := fileKey{s.Dev, s.Ino}
			x.fds[k] = append(x.fds[k], d)
		}
		return nil
	})
	return x
}

// openers lists the descriptors open on the file st, with their flags
// and offsets read now (a descriptor closed since the walk is left out).
func (x *procIndex) openers(st os.FileInfo) []opener {
	k, ok := keyOf(st)
	if !ok {
		return nil
	}
	var out []opener
	for _, d := range x.fds[k] {
		if fi, err := d.Info(); err == nil {
			out = append(out, opener{PID: d.PID, FD: d.FD, fdInfo: fi})
		}
	}
	return out
}

// openers lists the descriptors of all processes (but this one) that have
// the file st open, in one walk of /proc/*/fd.
func (p procFS) openers(st os.FileInfo) []opener { return p.index().openers(st) }

// procScan shares walks of /proc among the files of a run: a walk younger
// than the age a caller accepts is reused, so a run over 5,000 logs walks
// /proc a few times, not 5,000 (or 5,000 times the tries of a wait).
// Safe for concurrent use.
type procScan struct {
	p  procFS
	mu sync.Mutex
	x  *procIndex
}

// openers lists who has st open, from a walk at most maxAge old.
func (s *procScan) openers(st os.FileInfo, maxAge time.Duration) []opener {
	return s.get(maxAge).openers(st)
}

// get returns a walk at most maxAge old, walking /proc if there is none.
func (s *procScan) get(maxAge time.Duration) *procIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.x == nil || time.Since(s.x.at) > maxAge {
		s.x = s.p.index()
	}
	return s.x
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
