// Package atomicfile writes whole files so that a reader, or the next run
// after a crash, sees either the old contents or the new ones, never a torn
// mix: the data goes to a temporary file in the destination's directory,
// which is fsynced, renamed over the destination, and the directory fsynced
// so the rename itself survives a power loss (tailscale's atomicfile does
// the same).
//
// The temporary file is named "." + base + ".tend-tmp" + random digits, so
// it is hidden and recognisable ([IsTemp]); it is removed when any step
// fails. A process killed between create and rename leaves it behind, and
// the destination untouched: callers that care sweep such leftovers with
// [IsTemp] (rotate does, next to its backups).
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TempInfix is part of every temporary file's name (see [IsTemp]).
const TempInfix = ".tend-tmp"

// Options tunes [Write].
type Options struct {
	// Perm is the exact mode of the file written (the umask does not
	// apply); zero means 0o600, os.CreateTemp's mode.
	Perm os.FileMode
	// NoReplace fails the final rename with an error matching
	// [os.ErrExist] when the destination exists, instead of replacing
	// it (renameat2 RENAME_NOREPLACE where the file system has it).
	NoReplace bool
	// NoSyncDir leaves out the directory fsync after the rename, for a
	// caller that writes many files and fsyncs their directory once.
	NoSyncDir bool
}

// WriteFile writes data to path atomically with mode perm (0 = 0o600),
// replacing any file there. The parent directory must exist.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, Options{Perm: perm}, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write creates or replaces path atomically with what fill writes, which
// streams: the whole content never needs to be in memory. When fill or any
// later step fails, the destination is unchanged and the temporary file is
// removed. Errors name the step that failed (and, from the operating
// system, the temporary file); callers add what the file is for and its
// path, as [os.WriteFile]'s callers do. An error from fill is returned as
// is.
func Write(path string, opts Options, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("no file name in %q", path)
	}
	f, err := os.CreateTemp(dir, "."+base+TempInfix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close() // may already be closed; the error is the first one
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	perm := opts.Perm
	if perm == 0 {
		perm = 0o600
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod temporary file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync temporary file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if opts.NoReplace {
		err = renameNoReplace(tmp, path)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err // a *os.LinkError naming both files
	}
	// The new name is in place. The directory fsync makes the rename
	// durable; it is best effort (some file systems refuse fsync on a
	// directory) since the file is already whole under its name.
	if !opts.NoSyncDir {
		_ = syncDir(dir)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IsTemp reports whether name (a base name or a path) is a temporary file
// left by Write, for callers that list a directory and skip or remove them.
func IsTemp(name string) bool {
	base := filepath.Base(name)
	return strings.HasPrefix(base, ".") && strings.Contains(base, TempInfix)
}
