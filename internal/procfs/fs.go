// Package procfs reads the Linux proc file system for tend's packages: one
// reader per kernel file, rooted at a mount point that tests move to a
// fixture tree (prometheus/procfs's design). It offers one walk of
// /proc/*/fd that yields each open descriptor's pid and number and, on
// demand, the open file's device, inode, mode and size, the link's target
// and the fdinfo (flags, pos); the parsers of /proc/PID/maps, /proc/locks,
// /proc/PID/mountinfo (with the kernel's octal escapes undone) and
// /proc/PID/cgroup; and the readers that open them.
//
// Memory is bounded whatever /proc holds: directories are read in chunks
// and files line by line, each line capped (a longer one is an error
// wrapping [ErrLineTooLong]). Processes that vanish during a walk, or that
// this process may not inspect, are passed over.
//
// Every package that reads /proc takes the mount point in a field named
// Proc ("" = [DefaultMountPoint]) and hands it to [NewFS].
package procfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// DefaultMountPoint is where the proc file system is mounted.
const DefaultMountPoint = "/proc"

// readdirChunk is how many directory entries are held at once.
const readdirChunk = 256

// SkipProc, returned by a walk's callback, moves on to the next process.
//
//lint:ignore ST1012 named like fs.SkipDir: a signal to the walk, not a failure
var SkipProc = errors.New("skip this process")

// FS is a proc file system mount (or a fixture tree shaped like one).
type FS struct{ root string }

// NewFS returns the proc file system mounted at mountPoint ("" =
// DefaultMountPoint). It touches nothing until a method reads.
func NewFS(mountPoint string) FS {
	if mountPoint == "" {
		mountPoint = DefaultMountPoint
	}
	return FS{root: filepath.Clean(mountPoint)}
}

// Root is the mount point.
func (f FS) Root() string {
	if f.root == "" {
		return DefaultMountPoint
	}
	return f.root
}

// Path joins elem to the mount point.
func (f FS) Path(elem ...string) string {
	return filepath.Join(append([]string{f.Root()}, elem...)...)
}

// Proc is one process's directory.
type Proc struct {
	// PID is the process id; for Self, the caller's pid.
	PID int
	fs  FS
	dir string // "123" or "self"
}

// Proc returns the process pid's directory (which may not exist).
func (f FS) Proc(pid int) Proc { return Proc{PID: pid, fs: f, dir: strconv.Itoa(pid)} }

// Self returns the calling process's directory, FS/self.
func (f FS) Self() Proc { return Proc{PID: os.Getpid(), fs: f, dir: "self"} }

// Path joins elem to the process's directory.
func (p Proc) Path(elem ...string) string {
	return p.fs.Path(append([]string{p.dir}, elem...)...)
}

// WalkProcs calls fn for every process directory, in the kernel's order,
// holding at most a chunk of names at once. fn returning SkipProc goes
// on; any other error stops the walk and is returned. The error of
// listing the mount point itself is returned; ctx is checked between
// processes.
func (f FS) WalkProcs(ctx context.Context, fn func(Proc) error) error {
	d, err := os.Open(f.Root())
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(readdirChunk)
		for _, name := range names {
			pid, perr := strconv.Atoi(name)
			if perr != nil || pid <= 0 {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(Proc{PID: pid, fs: f, dir: name}); err != nil && err != SkipProc {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Comm returns the process's command name (/proc/PID/comm), trimmed.
func (p Proc) Comm() (string, error) {
	var b [64]byte // TASK_COMM_LEN is 16; a fixture may hold more
	f, err := os.Open(p.Path("comm"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	n, err := io.ReadFull(f, b[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", err
	}
	s := string(b[:n])
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s, nil
}

// gone reports errors that mean the process (or the part of it being read)
// vanished or is not ours to read: a walk passes over those.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}
