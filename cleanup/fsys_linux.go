package cleanup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// OS returns the real file system: directories are opened with
// openat(O_NOFOLLOW|O_DIRECTORY|O_NOATIME), entries are examined with
// fstatat(AT_SYMLINK_NOFOLLOW) and removed with unlinkat, always relative to
// the directory's file descriptor.
func OS() FS { return osFS{} }

type osFS struct{}

const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

func openDirAt(fd int, name string) (int, error) {
	for {
		// O_NOATIME keeps our own reading from refreshing directory atimes;
		// only the owner (or CAP_FOWNER) may use it, so retry without.
		nfd, err := unix.Openat(fd, name, dirFlags|unix.O_NOATIME, 0)
		if err == unix.EPERM {
			nfd, err = unix.Openat(fd, name, dirFlags, 0)
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.ELOOP {
			err = unix.ENOTDIR
		}
		return nfd, err
	}
}

func (osFS) OpenRoot(path string) (Dir, error) {
	fd, err := openDirAt(unix.AT_FDCWD, path)
	if err != nil {
		return nil, err
	}
	return &osDir{fd: fd}, nil
}

func (osFS) Lstat(path string) (Info, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return Info{}, err
	}
	return infoOf(&st), nil
}

// Identity returns the effective uid and groups of this process.
func (osFS) Identity() (uint32, []uint32) {
	gs := []uint32{uint32(os.Getegid())}
	if more, err := os.Getgroups(); err == nil {
		for _, g := range more {
			gs = append(gs, uint32(g))
		}
	}
	return uint32(os.Geteuid()), gs
}

type osDir struct{ fd int }

// direntBufs recycles getdents buffers: a sweep reads every directory once,
// and a fresh 32 KiB buffer per directory costs more than the syscalls.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (d *osDir) ReadDir() ([]string, error) {
	var names []string
	err := d.getdents(func(b []byte) { _, _, names = unix.ParseDirent(b, -1, names) })
	return names, err
}

// ReadEntries implements EntryLister from getdents' d_type.
func (d *osDir) ReadEntries() ([]DirEntry, error) {
	var ents []DirEntry
	err := d.getdents(func(b []byte) { ents = appendEntries(ents, b) })
	return ents, err
}

func (d *osDir) readListing(l *listing) error {
	return d.getdents(func(b []byte) { appendListing(l, b) })
}

// getdents reads the whole directory, handing each batch of records to
// parse.
func (d *osDir) getdents(parse func([]byte)) error {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	for {
		n, err := unix.Getdents(d.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		parse(buf[:n])
	}
}

// Field offsets in a struct linux_dirent64 record (unix.Dirent): d_ino,
// d_off, d_reclen, d_type, then the NUL-terminated d_name.
const (
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

// appendEntries appends the entries of the getdents64 records in b, without
// "." and ".." (nor an empty name, which no kernel sends). unix.ParseDirent
// does the same but drops d_type.
func appendEntries(ents []DirEntry, b []byte) []DirEntry {
	eachDirent(b, func(name []byte, dir, typed bool) {
		ents = append(ents, DirEntry{Name: string(name), Dir: dir, Typed: typed})
	})
	return ents
}

// appendListing is appendEntries into a listing.
func appendListing(l *listing, b []byte) { eachDirent(b, l.add) }

// eachDirent calls f with each entry of the getdents64 records in b: dir
// when d_type is DT_DIR, typed when it is not DT_UNKNOWN.
func eachDirent(b []byte, f func(name []byte, dir, typed bool)) {
	for len(b) > direntName {
		reclen := int(binary.NativeEndian.Uint16(b[direntReclen:]))
		if reclen <= direntName || reclen > len(b) {
			break // malformed: never read past the record
		}
		rec := b[:reclen]
		b = b[reclen:]
		if binary.NativeEndian.Uint64(rec) == 0 {
			continue // d_ino 0: a deleted entry some file systems still list
		}
		name := rec[direntName:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(name) == 0 || string(name) == "." || string(name) == ".." {
			continue
		}
		f(name, rec[direntType] == unix.DT_DIR, rec[direntType] != unix.DT_UNKNOWN)
	}
}

func (d *osDir) Lstat(name string) (Info, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, err
	}
	return infoOf(&st), nil
}

func (d *osDir) OpenDir(name string) (Dir, error) {
	fd, err := openDirAt(d.fd, name)
	if err != nil {
		return nil, err
	}
	return &osDir{fd: fd}, nil
}

func (d *osDir) Remove(name string, dir bool) error {
	flags := 0
	if dir {
		flags = unix.AT_REMOVEDIR
	}
	return unix.Unlinkat(d.fd, name, flags)
}

func (d *osDir) ReadFile(name string, max int) ([]byte, error) {
	// O_NOATIME: reading a Hugging Face ref is not a use of it (a dry run
	// must not make the real run keep it); only the owner or root may ask.
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	fd, err := unix.Openat(d.fd, name, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Openat(d.fd, name, flags, 0)
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, unix.EINVAL
	}
	buf := make([]byte, max)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func (d *osDir) Readlink(name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(d.fd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

func (d *osDir) Stat() (Info, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return Info{}, err
	}
	return infoOf(&st), nil
}

func (d *osDir) Close() error {
	if d.fd < 0 {
		return errors.New("directory already closed")
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// FreeBytes implements FreeSpacer with fstatfs(2).
func (d *osDir) FreeBytes() (int64, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(d.fd, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

func infoOf(st *unix.Stat_t) Info {
	var t Type
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		t = TypeFile
	case unix.S_IFDIR:
		t = TypeDir
	case unix.S_IFLNK:
		t = TypeSymlink
	default:
		t = TypeOther
	}
	return Info{
		Type: t, Size: st.Size, Blocks: st.Blocks, Dev: st.Dev, Ino: st.Ino, Nlink: uint64(st.Nlink),
		Atime: time.Unix(st.Atim.Unix()), Mtime: time.Unix(st.Mtim.Unix()), Ctime: time.Unix(st.Ctim.Unix()),
		UID: st.Uid, GID: st.Gid, Perm: st.Mode & 0o7777,
	}
}
