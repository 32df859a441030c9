package cleanup_test

import (
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/cleanup/cleanuptest"
)

// maker builds the same tree on any file system.
type maker struct {
	file    func(p string, size int64, t time.Time)
	dir     func(p string, t time.Time)
	symlink func(target, p string, t time.Time)
	fifo    func(p string, t time.Time)
}

func osMaker(t *testing.T) maker {
	return maker{
		file: func(p string, size int64, tm time.Time) {
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, make([]byte, size), 0o644))
			require.NoError(t, os.Chtimes(p, tm, tm))
		},
		dir: func(p string, tm time.Time) {
			require.NoError(t, os.MkdirAll(p, 0o755))
			require.NoError(t, os.Chtimes(p, tm, tm))
		},
		symlink: func(target, p string, tm time.Time) {
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink(target, p))
			ts := []unix.Timespec{unix.NsecToTimespec(tm.UnixNano()), unix.NsecToTimespec(tm.UnixNano())}
			require.NoError(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
		},
		fifo: func(p string, tm time.Time) {
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, unix.Mkfifo(p, 0o644))
			require.NoError(t, os.Chtimes(p, tm, tm))
		},
	}
}

func fakeMaker(f *cleanuptest.FS) maker {
	return maker{file: f.WriteFile, dir: f.Mkdir, symlink: f.Symlink, fifo: f.Mkfifo}
}

// TestFSConformance runs the same operations against the fake and the real
// fd-based file system and expects the same answers, so the fake used by
// the policy tests cannot drift from the truth.
func TestFSConformance(t *testing.T) {
	fake := cleanuptest.New()
	cases := []struct {
		name string
		fs   cleanup.FS
		root string
		mk   maker
	}{
		{"fake", fake, "/r", fakeMaker(fake)},
		{"os", cleanup.OS(), t.TempDir(), osMaker(t)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { conformance(t, c.fs, c.root, c.mk) })
	}
}

func conformance(t *testing.T, fsys cleanup.FS, root string, mk maker) {
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	mk.dir(root, old)
	mk.file(root+"/f", 5, old)
	mk.dir(root+"/d", old)
	mk.file(root+"/d/g", 0, old)
	mk.symlink("d", root+"/ln", old)
	mk.symlink("/nonexistent", root+"/dangling", old)
	mk.fifo(root+"/fifo", old)
	mk.file(root+"/line\nbreak\xff", 1, old)
	mk.dir(root+"/d", old) // again: adding g changed its mtime

	li, err := fsys.Lstat(root + "/ln")
	require.NoError(t, err)
	assert.Equal(t, cleanup.TypeSymlink, li.Type, "Lstat does not follow the last symlink")
	_, err = fsys.Lstat(root + "/missing")
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = fsys.OpenRoot(root + "/f")
	assert.ErrorIs(t, err, syscall.ENOTDIR, "a file is not a root")
	_, err = fsys.OpenRoot(root + "/ln")
	assert.ErrorIs(t, err, syscall.ENOTDIR, "a symlink is not a root")
	_, err = fsys.OpenRoot(root + "/missing")
	assert.ErrorIs(t, err, os.ErrNotExist)

	d, err := fsys.OpenRoot(root)
	require.NoError(t, err)
	defer d.Close()
	names, err := d.ReadDir()
	require.NoError(t, err)
	sort.Strings(names)
	assert.Equal(t, []string{"d", "dangling", "f", "fifo", "line\nbreak\xff", "ln"}, names)

	want := map[string]cleanup.Type{"d": cleanup.TypeDir, "f": cleanup.TypeFile, "ln": cleanup.TypeSymlink,
		"dangling": cleanup.TypeSymlink, "fifo": cleanup.TypeOther, "line\nbreak\xff": cleanup.TypeFile}
	for name, typ := range want {
		info, err := d.Lstat(name)
		require.NoError(t, err, name)
		assert.Equal(t, typ, info.Type, name)
		assert.True(t, info.Atime.Equal(old), "%s atime %v", name, info.Atime)
		assert.True(t, info.Mtime.Equal(old), "%s mtime %v", name, info.Mtime)
		assert.NotZero(t, info.Ino)
	}
	fi, _ := d.Lstat("f")
	assert.EqualValues(t, 5, fi.Size)
	if _, ok := d.(cleanup.EntryLister); ok {
		// A second listing, from a fresh descriptor: the same names, and
		// Dir set for exactly the directory (not the symlink to it).
		dl, err := fsys.OpenRoot(root)
		require.NoError(t, err)
		ents, err := dl.(cleanup.EntryLister).ReadEntries()
		require.NoError(t, err)
		require.NoError(t, dl.Close())
		got := map[string]bool{}
		for _, e := range ents {
			got[e.Name] = e.Dir
		}
		assert.Equal(t, map[string]bool{"d": true, "dangling": false, "f": false, "fifo": false, "line\nbreak\xff": false, "ln": false}, got)
	}
	_, err = d.Lstat("missing")
	assert.ErrorIs(t, err, os.ErrNotExist)

	data, err := d.ReadFile("f", 3)
	require.NoError(t, err)
	assert.Len(t, data, 3)
	_, err = d.ReadFile("ln", 10)
	assert.Error(t, err, "ReadFile does not follow a symlink")
	target, err := d.Readlink("ln")
	require.NoError(t, err)
	assert.Equal(t, "d", target)

	_, err = d.OpenDir("ln")
	assert.ErrorIs(t, err, syscall.ENOTDIR, "OpenDir must not follow a symlink")
	_, err = d.OpenDir("f")
	assert.ErrorIs(t, err, syscall.ENOTDIR)
	sub, err := d.OpenDir("d")
	require.NoError(t, err)
	si, err := sub.Stat()
	require.NoError(t, err)
	di, _ := d.Lstat("d")
	assert.Equal(t, di.Ino, si.Ino, "an opened directory is the one examined")
	assert.Equal(t, di.Dev, si.Dev)

	assert.ErrorIs(t, d.Remove("d", true), syscall.ENOTEMPTY)
	assert.ErrorIs(t, d.Remove("d", false), syscall.EISDIR)
	assert.ErrorIs(t, d.Remove("missing", false), os.ErrNotExist)
	require.NoError(t, sub.Remove("g", false))
	require.NoError(t, sub.Close())
	require.NoError(t, d.Remove("d", true))
	require.NoError(t, d.Remove("ln", false), "a symlink is removed itself")
	require.NoError(t, d.Remove("line\nbreak\xff", false))
	d2, err := fsys.OpenRoot(root)
	require.NoError(t, err)
	defer d2.Close()
	names, err = d2.ReadDir()
	require.NoError(t, err)
	sort.Strings(names)
	assert.Equal(t, []string{"dangling", "f", "fifo"}, names)
}
