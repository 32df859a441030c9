package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to, failing with an error that matches
// os.ErrExist when to exists, so no rotation ever overwrites a backup.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// File systems without RENAME_NOREPLACE: check, then rename.
		if _, serr := os.Lstat(to); serr == nil {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: os.ErrExist}
		}
		return os.Rename(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// copyOwner gives path the owner of st, ignoring failures (not root).
func copyOwner(path string, st os.FileInfo) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(path, int(s.Uid), int(s.Gid))
	}
}

// sameFile reports whether two stats name one inode.
func sameFile(a, b os.FileInfo) bool { return os.SameFile(a, b) }

// lockFile takes an exclusive flock on f without waiting.
func lockFile(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return ErrLocked
	}
	return err
}

// ErrLocked means another run holds the lock of a log or state file.
var ErrLocked = errors.New("locked by another rotation run")

// lockDir takes an exclusive flock on the directory dir, waiting (until ctx
// is done) for another run that holds it. A run holds its log's directory
// while it rotates the log: backups are renamed, compressed and deleted
// there, and the temporary files of a run in progress must not look like
// leftovers to another run with a different state file.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	for {
		err = unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			break
		}
		select {
		case <-ctx.Done():
			d.Close()
			return nil, fmt.Errorf("lock directory %s: waiting for another run: %w", dir, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("lock directory %s: %w", dir, err)
	}
	return func() { d.Close() }, nil
}
