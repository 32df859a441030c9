package cleanup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"syscall"
	"time"
)

// FS opens the roots a Sweeper walks. It is the only way the Sweeper touches
// a file system: everything below a root is reached through a Dir, by entry
// name, relative to an open directory, so a path is never resolved again
// after it was checked. The real implementation is OS(); cleanuptest.FS is
// an in-memory double that passes the same conformance test.
type FS interface {
	// OpenRoot opens the directory at path without following a symlink in
	// its last component. It fails with syscall.ENOTDIR when path is not a
	// directory (a symlink included).
	OpenRoot(path string) (Dir, error)
	// Lstat describes the entry at path without following a symlink in
	// its last component (symlinks in its parents are followed).
	Lstat(path string) (Info, error)
}

// Dir is an open directory. No method follows a symlink.
type Dir interface {
	// ReadDir returns the names in the directory, without "." and "..", in
	// no particular order. It is called at most once per open Dir.
	ReadDir() ([]string, error)
	// Lstat describes the entry name (a symlink itself, never its target).
	Lstat(name string) (Info, error)
	// OpenDir opens the subdirectory name. It fails with syscall.ENOTDIR
	// when name is not a directory; a symlink to a directory included.
	OpenDir(name string) (Dir, error)
	// Remove removes the entry name: an empty directory when dir is true
	// (syscall.ENOTEMPTY otherwise), any other entry when dir is false
	// (syscall.EISDIR for a directory).
	Remove(name string, dir bool) error
	// ReadFile returns up to max bytes of the regular file name (a symlink
	// is not followed: it fails).
	ReadFile(name string, max int) ([]byte, error)
	// Readlink returns the target of the symlink name.
	Readlink(name string) (string, error)
	// Stat describes the open directory itself.
	Stat() (Info, error)
	// Close releases the directory.
	Close() error
}

// DirEntry is one name in a directory listing, with what the listing itself
// says of its type.
type DirEntry struct {
	Name string
	// Dir is true when the listing says the entry is a directory (getdents'
	// d_type is DT_DIR); false for every other type and for an unknown one.
	Dir bool
	// Typed is true when the listing says what the entry is (d_type is not
	// DT_UNKNOWN): with Dir false, it is then a file, a symlink or a special
	// file, and a walk looking only for directories (outside a Rule's Within
	// directories) never describes it.
	Typed bool
}

// EntryLister is implemented by a Dir whose listing tells directories
// apart. The Sweeper then opens a listed directory straight away with
// OpenDir and describes it with Stat on the open directory instead of an
// Lstat by name: one call fewer per directory, and the description is of
// the very directory opened. Everything else is still described by Lstat.
type EntryLister interface {
	// ReadEntries is ReadDir with each name's listed type.
	ReadEntries() ([]DirEntry, error)
}

// readEntries lists d with EntryLister when it can, else with ReadDir.
func readEntries(d Dir) ([]DirEntry, error) {
	if l, ok := d.(EntryLister); ok {
		return l.ReadEntries()
	}
	names, err := d.ReadDir()
	ents := make([]DirEntry, len(names))
	for i, n := range names {
		ents[i].Name = n
	}
	return ents, err
}

// FreeSpacer is implemented by a Dir that can tell how many bytes are free
// to unprivileged users on its file system (statfs f_bavail).
type FreeSpacer interface {
	FreeBytes() (int64, error)
}

// Type is the kind of a file system entry.
type Type uint8

// Entry types. Sockets, FIFOs and devices are TypeOther and never deleted.
const (
	TypeFile Type = iota
	TypeDir
	TypeSymlink
	TypeOther
)

var typeNames = [...]string{"file", "dir", "symlink", "other"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown"
}

// MarshalText prints the type's name.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a type's name.
func (t *Type) UnmarshalText(b []byte) error {
	for i, n := range typeNames {
		if n == string(b) {
			*t = Type(i)
			return nil
		}
	}
	return fmt.Errorf("unknown entry type %q", b)
}

// Info describes one entry, as lstat(2) reports it.
type Info struct {
	Type Type
	Size int64 // bytes, for files
	// Blocks is the 512-byte blocks allocated on disk (st_blocks).
	Blocks int64
	Dev    uint64
	Ino    uint64
	Nlink  uint64
	Atime  time.Time
	Mtime  time.Time
	Ctime  time.Time
	// UID, GID and Perm (permission bits with setuid, setgid and sticky)
	// are the owner and mode. An FS that leaves them zero should not
	// implement Identity: its entries are then taken as removable.
	UID, GID uint32
	Perm     uint32
}

// Identity is implemented by an FS whose permissions are enforced, so a
// plan can leave out what this process may not remove (a non-root user
// over a sticky /tmp) and a dry run lists only what a real run deletes.
type Identity interface {
	// Identity returns the effective uid and every group of this process.
	Identity() (uid uint32, groups []uint32)
}

// errNotDir reports whether err says an entry is not a real directory.
func errNotDir(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP)
}

// errGone reports whether err says an entry vanished.
func errGone(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// listing is a directory's entries held compactly: every name in one
// buffer, each entry 8 bytes beside it, so that a directory of a million
// entries costs its names plus 8 MB, not a string header and an
// allocation per name.
type listing struct {
	names []byte
	ents  []listed
}

type listed struct {
	off   uint32 // into names
	n     uint8  // length (a name is at most 255 bytes)
	dir   bool   // the listing says it is a directory (see DirEntry)
	typed bool   // the listing says what it is (see DirEntry.Typed)
}

func (l *listing) add(name []byte, dir, typed bool) {
	if len(name) > 255 || len(l.names)+len(name) > 1<<32-1 {
		return // no file system names an entry so; never read past it
	}
	l.ents = append(l.ents, listed{off: uint32(len(l.names)), n: uint8(len(name)), dir: dir, typed: typed})
	l.names = append(l.names, name...)
}

func (l *listing) name(i int) []byte {
	e := l.ents[i]
	return l.names[e.off : e.off+uint32(e.n)]
}

// sort orders the entries by name, bytewise.
func (l *listing) sort() {
	slices.SortFunc(l.ents, func(a, b listed) int {
		return bytes.Compare(l.names[a.off:a.off+uint32(a.n)], l.names[b.off:b.off+uint32(b.n)])
	})
}

// compactLister is implemented by the real Dir: its listing straight into
// a listing.
type compactLister interface {
	readListing(l *listing) error
}

// readListing lists d into l, compactly when d can.
func readListing(d Dir, l *listing) error {
	if c, ok := d.(compactLister); ok {
		return c.readListing(l)
	}
	ents, err := readEntries(d)
	for _, e := range ents {
		l.add([]byte(e.Name), e.Dir, e.Typed)
	}
	return err
}
