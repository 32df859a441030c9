package cleanup_test

import (
	"hash/fnv"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
)

// hookFS wraps the real file system and changes the tree under the sweep
// at the worst moments, deterministically: a directory picked by its name
// vanishes (contents and all) right after the sweep opened it, and another
// is swapped for a symlink to outside right after its parent was listed.
// It keeps its own descriptor of every directory the sweep opens, to act
// fd-relative at any depth.
type hookFS struct {
	inner   cleanup.FS
	outside string
	spare   map[string]bool // names never touched (the protected directory)
	// vanished and swapped count what the hook did.
	vanished, swapped atomic.Int64
}

type hookDir struct {
	cleanup.Dir
	fs *hookFS
	fd int // our own descriptor of the same directory
}

// pick says what happens to the directory name: 1 vanish after open,
// 2 swap for a symlink after listing, 0 nothing.
func (f *hookFS) pick(name string) int {
	if f.spare[name] || name == "." || name == ".." {
		return 0 // a reopen through ".." must not remove a parent
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	switch h.Sum32() % 7 {
	case 0:
		return 1
	case 1:
		return 2
	}
	return 0
}

func (f *hookFS) OpenRoot(path string) (cleanup.Dir, error) {
	d, err := f.inner.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		d.Close()
		return nil, err
	}
	return &hookDir{Dir: d, fs: f, fd: fd}, nil
}

func (f *hookFS) Lstat(path string) (cleanup.Info, error) { return f.inner.Lstat(path) }

// Identity forwards the real FS's permission model.
func (f *hookFS) Identity() (uint32, []uint32) { return f.inner.(cleanup.Identity).Identity() }

func (d *hookDir) OpenDir(name string) (cleanup.Dir, error) {
	sub, err := d.Dir.OpenDir(name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1 // it changed already
	}
	if d.fs.pick(name) == 1 {
		removeAllAt(d.fd, name)
		d.fs.vanished.Add(1)
	}
	return &hookDir{Dir: sub, fs: d.fs, fd: fd}, nil
}

// ReadEntries lists (as the real FS does, with types), then swaps the
// picked subdirectories for symlinks to outside: the sweep must not follow.
func (d *hookDir) ReadEntries() ([]cleanup.DirEntry, error) {
	var ents []cleanup.DirEntry
	var err error
	if l, ok := d.Dir.(cleanup.EntryLister); ok {
		ents, err = l.ReadEntries()
	} else {
		var names []string
		names, err = d.Dir.ReadDir()
		for _, n := range names {
			ents = append(ents, cleanup.DirEntry{Name: n})
		}
	}
	d.swap(ents)
	return ents, err
}

func (d *hookDir) ReadDir() ([]string, error) {
	names, err := d.Dir.ReadDir()
	ents := make([]cleanup.DirEntry, len(names))
	for i, n := range names {
		ents[i].Name = n
	}
	d.swap(ents)
	return names, err
}

func (d *hookDir) swap(ents []cleanup.DirEntry) {
	if d.fd < 0 {
		return
	}
	for _, e := range ents {
		if d.fs.pick(e.Name) != 2 {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(d.fd, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if unix.Renameat(d.fd, e.Name, d.fd, e.Name+".aside") == nil {
			unix.Symlinkat(d.fs.outside, d.fd, e.Name)
			d.fs.swapped.Add(1)
		}
	}
}

func (d *hookDir) Close() error {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
	return d.Dir.Close()
}

// FreeBytes forwards the real FS's free space.
func (d *hookDir) FreeBytes() (int64, error) {
	if fs, ok := d.Dir.(cleanup.FreeSpacer); ok {
		return fs.FreeBytes()
	}
	return 0, unix.ENOTSUP
}

// removeAllAt removes name in dirfd and everything below it, fd-relative
// (no path is resolved, so no symlink is followed and no depth is too deep).
func removeAllAt(dirfd int, name string) {
	if unix.Unlinkat(dirfd, name, 0) == nil {
		return
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		if len(names) == 0 {
			break
		}
		for _, k := range names {
			removeAllAt(fd, k)
		}
		unix.Seek(fd, 0, 0)
	}
	unix.Close(fd)
	unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}
