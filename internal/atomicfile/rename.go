package atomicfile

import "os"

// renameCheckFirst is the fallback for file systems without an atomic
// no-replace rename: check, then rename (a racing creator can still lose).
func renameCheckFirst(from, to string) error {
	if _, err := os.Lstat(to); err == nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: os.ErrExist}
	}
	return os.Rename(from, to)
}
