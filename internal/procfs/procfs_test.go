package procfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var fixture = NewFS("testdata/proc")

func TestNewFSDefault(t *testing.T) {
	assert.Equal(t, "/proc", NewFS("").Root())
	assert.Equal(t, "/proc", FS{}.Root(), "the zero FS is /proc too")
	assert.Equal(t, "/x/proc/12/fd", NewFS("/x/proc/").Proc(12).Path("fd"))
	assert.Equal(t, "/proc/self/mountinfo", NewFS("").Self().Path("mountinfo"))
}

func TestMountInfoFixture(t *testing.T) {
	ms, err := fixture.Self().MountInfo()
	require.NoError(t, err)
	require.Len(t, ms, 7, "the malformed line is passed over")
	root := ms[0]
	assert.Equal(t, Mount{ID: 22, Parent: 1, Dev: Mkdev(8, 1), Root: "/", Point: "/", Options: "rw,relatime",
		Optional: []string{"shared:1"}, FSType: "ext4", Source: "/dev/sda1", SuperOptions: "rw"}, root)
	assert.True(t, ms[1].HasOption("noatime"))
	assert.False(t, ms[1].HasOption("atime"))
	assert.True(t, ms[1].HasSuperOption("size=1024k"))
	assert.Equal(t, "/c/with space", ms[2].Point)
	assert.Equal(t, []string{"shared:6", "master:2"}, ms[2].Optional)
	assert.Equal(t, "/c/tab\tnew\nline", ms[3].Point)
	assert.Equal(t, `/sub\dir`, ms[3].Root)
	assert.Equal(t, "", ms[3].Source, "an empty source (two spaces) keeps the fields in place")
	assert.Equal(t, "rw", ms[3].SuperOptions)
	assert.Nil(t, ms[3].Optional)
	assert.Equal(t, Mkdev(259, 3), ms[4].Dev)
	assert.Equal(t, "/sys/fs/cgroup/cpu,cpuacct", ms[4].Point)
	assert.True(t, ms[4].HasSuperOption("cpuacct"))
	assert.Equal(t, "cgroup2", ms[5].FSType)
	assert.Equal(t, `/odd\777name\04`, ms[6].Point, "not an escape: kept as written")
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "",
		"plain":              "plain",
		`a\040b`:             "a b",
		`\011\012\134\040`:   "\t\n\\ ",
		`\303\251t\303\251`:  "été",
		`\101\102`:           "AB",
		`trailing\`:          `trailing\`,
		`short\04`:           `short\04`,
		`\400`:               `\400`,
		`\08a`:               `\08a`,
		`\\040`:              `\ `,
		`x\0401\040`:         "x 1 ",
		`with\0000nul`:       "with\x000nul",
		`\1`:                 `\1`,
		`not\x20hex`:         `not\x20hex`,
		`\377`:               "\xff",
		`\040\040\040\040\0`: `    \0`,
	} {
		assert.Equal(t, want, Unescape(in), "Unescape(%q)", in)
	}
}

// TestMountInfoRealSelf parses this process's mountinfo: the proc mount
// is there and its device is what stat says.
func TestMountInfoRealSelf(t *testing.T) {
	ms, err := NewFS("").Self().MountInfo()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	data, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	assert.Len(t, ms, strings.Count(string(data), "\n"), "every line of the real file parses")
	var st unix.Stat_t
	require.NoError(t, unix.Stat("/proc", &st))
	var proc *Mount
	for i := range ms {
		if ms[i].Point == "/proc" {
			proc = &ms[i]
		}
	}
	require.NotNil(t, proc, "/proc is a mount point")
	assert.Equal(t, "proc", proc.FSType)
	assert.Equal(t, uint64(st.Dev), proc.Dev)
}

func TestCgroupsFixture(t *testing.T) {
	cs, err := fixture.Self().Cgroups()
	require.NoError(t, err)
	require.Len(t, cs, 5)
	assert.Equal(t, Cgroup{HierarchyID: 12, Controllers: []string{"pids"}, Path: "/docker/abc"}, cs[0])
	assert.True(t, cs[2].Has("cpuacct"))
	assert.False(t, cs[2].Has("memory"))
	assert.Equal(t, []string{"name=systemd"}, cs[3].Controllers)
	assert.True(t, cs[4].Unified())
	assert.False(t, cs[0].Unified())
	assert.Equal(t, "/docker/abc:with:colons", cs[4].Path, "the path keeps its colons")
}

func TestCgroupsRealSelf(t *testing.T) {
	cs, err := NewFS("").Self().Cgroups()
	require.NoError(t, err)
	data, err := os.ReadFile("/proc/self/cgroup")
	require.NoError(t, err)
	assert.Len(t, cs, strings.Count(string(data), "\n"))
	for _, c := range cs {
		assert.True(t, strings.HasPrefix(c.Path, "/"), "%+v", c)
	}
}

func TestMapsFixture(t *testing.T) {
	var ms []Mapping
	require.NoError(t, fixture.Proc(42).Maps(func(m Mapping) error {
		ms = append(ms, m)
		return nil
	}))
	require.Len(t, ms, 4)
	assert.Equal(t, Mapping{Start: 0x7f0000000000, End: 0x7f0000001000, Perms: "r--p", Dev: Mkdev(0xfd, 1), Ino: 5555, Path: "/data/model.safetensors"}, ms[0])
	assert.Equal(t, uint64(0), ms[1].Ino)
	assert.Equal(t, "", ms[1].Path)
	assert.Equal(t, "/opt/lib with space.so (deleted)", ms[2].Path)
	assert.Equal(t, uint64(0x1000), ms[2].Offset)
	assert.Equal(t, "[stack]", ms[3].Path)

	stop := errors.New("stop")
	n := 0
	err := fixture.Proc(42).Maps(func(Mapping) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
}

// TestMapsRealSelf maps a file and finds it, by device and inode, in
// /proc/self/maps.
func TestMapsRealSelf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weights with space.bin")
	require.NoError(t, os.WriteFile(path, make([]byte, 8192), 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(mem)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st))
	found := false
	require.NoError(t, NewFS("").Self().Maps(func(m Mapping) error {
		if m.Dev == uint64(st.Dev) && m.Ino == st.Ino {
			found = true
			assert.Equal(t, path, m.Path)
		}
		return nil
	}))
	assert.True(t, found, "the mapped file is in /proc/self/maps")
}

func TestLocksFixture(t *testing.T) {
	var ls []Lock
	require.NoError(t, fixture.Locks(func(l Lock) error { ls = append(ls, l); return nil }))
	require.Len(t, ls, 5)
	assert.Equal(t, Lock{ID: 1, Class: "FLOCK", Mode: "ADVISORY", Access: "WRITE", PID: 1234, Dev: Mkdev(0, 0x19), Ino: 77, Start: "0", End: "EOF"}, ls[0])
	assert.Equal(t, Mkdev(0xfd, 1), ls[1].Dev)
	assert.EqualValues(t, 1048602, ls[1].Ino)
	assert.True(t, ls[2].Waiter)
	assert.Equal(t, 1235, ls[2].PID)
	assert.Equal(t, -1, ls[3].PID, "an OFD lock has no pid")
	assert.Equal(t, "LEASE", ls[4].Class)
}

// TestLocksReal takes a flock and finds it in /proc/locks.
func TestLocksReal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "lock"))
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, unix.Flock(int(f.Fd()), unix.LOCK_EX))
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st))
	found := false
	require.NoError(t, NewFS("").Locks(func(l Lock) error {
		if l.Dev == uint64(st.Dev) && l.Ino == st.Ino {
			found = true
			assert.Equal(t, "FLOCK", l.Class)
			assert.Equal(t, "WRITE", l.Access)
			assert.False(t, l.Waiter)
		}
		return nil
	}))
	assert.True(t, found, "our flock is in /proc/locks")
}

func TestParseFDInfo(t *testing.T) {
	fi, err := fixture.Proc(42).fdInfo("3")
	require.NoError(t, err)
	assert.Equal(t, FDInfo{Pos: 1024, Flags: 0o102001, MntID: 30}, fi)
	assert.True(t, fi.Append())
	assert.True(t, fi.Writable())

	for _, tc := range []struct {
		in      string
		want    FDInfo
		wantErr string
	}{
		{"pos:\t0\nflags:\t02\n", FDInfo{Flags: 2, MntID: -1}, ""},
		{"flags:\t0100000\npos:\t7\n", FDInfo{Pos: 7, Flags: 0o100000, MntID: -1}, ""},
		{"pos:\t-1\nflags:\t0\n", FDInfo{}, "bad pos"},
		{"pos:\t1\nflags:\t9\n", FDInfo{}, "bad flags"},
		{"pos: 1\n", FDInfo{}, "no pos or flags"},
		{"", FDInfo{}, "no pos or flags"},
		{"pos:\t1\nflags:\t0\nmnt_id:\tx\n", FDInfo{}, "bad mnt_id"},
	} {
		got, err := ParseFDInfo(strings.NewReader(tc.in))
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assert.False(t, got.Append())
	}
	assert.False(t, FDInfo{Flags: 0}.Writable(), "O_RDONLY")
	assert.True(t, FDInfo{Flags: 1}.Writable(), "O_WRONLY")
	assert.True(t, FDInfo{Flags: 2}.Writable(), "O_RDWR")
	assert.False(t, FDInfo{Flags: 3}.Writable(), "3 is not a write mode")
}

// fdInfo reads one fdinfo file of a fixture (no fd link needed).
func (p Proc) fdInfo(name string) (FDInfo, error) {
	return FD{proc: p, Name: name}.Info()
}

// TestWalkFDsRealSelf opens a file for appending and finds it in one walk
// of /proc/*/fd: its device and inode, target, flags and position; once
// unlinked, its target ends in " (deleted)".
func TestWalkFDsRealSelf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app\nlog")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString("hello")
	require.NoError(t, err)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &st))

	find := func() (FD, FileStat, FDInfo, string, int) {
		var got FD
		var gst FileStat
		var gfi FDInfo
		var target string
		pids := map[int]bool{}
		err := NewFS("").WalkFDs(context.Background(), func(d FD) error {
			pids[d.PID] = true
			if d.PID != os.Getpid() || d.FD != int(f.Fd()) {
				return nil
			}
			var err error
			got = d
			gst, err = d.Stat()
			require.NoError(t, err)
			gfi, err = d.Info()
			require.NoError(t, err)
			target, err = d.Target()
			require.NoError(t, err)
			return nil
		})
		require.NoError(t, err)
		return got, gst, gfi, target, len(pids)
	}
	d, fst, fi, target, npids := find()
	require.Equal(t, os.Getpid(), d.PID, "our descriptor was walked")
	assert.GreaterOrEqual(t, npids, 1)
	assert.Equal(t, uint64(st.Dev), fst.Dev)
	assert.Equal(t, st.Ino, fst.Ino)
	assert.True(t, fst.IsRegular())
	assert.EqualValues(t, 5, fst.Size)
	assert.True(t, fi.Append())
	assert.True(t, fi.Writable())
	assert.EqualValues(t, 5, fi.Pos)
	assert.Positive(t, fi.MntID)
	assert.Equal(t, path, target, "a name with a newline comes back whole")

	require.NoError(t, os.Remove(path))
	_, _, _, target, _ = find()
	assert.Equal(t, path+" (deleted)", target)
}

// fakeFDs builds a fixture proc tree: pid/fd/N are symlinks to files.
func fakeFDs(t *testing.T, pids map[int]int) string {
	t.Helper()
	root, store := t.TempDir(), t.TempDir()
	for pid, n := range pids {
		dir := filepath.Join(root, fmt.Sprint(pid), "fd")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i := range n {
			target := filepath.Join(store, fmt.Sprintf("f-%d-%d", pid, i))
			require.NoError(t, os.WriteFile(target, []byte("x"), 0o644))
			require.NoError(t, os.Symlink(target, filepath.Join(dir, fmt.Sprint(i))))
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "77"), 0o755)) // no fd dir: exited
	require.NoError(t, os.MkdirAll(filepath.Join(root, "self"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "locks"), nil, 0o644))
	require.NoError(t, os.Symlink("/nowhere", filepath.Join(root, "10", "fd", "not-a-number")))
	return root
}

func TestWalkFDsFixture(t *testing.T) {
	// 600 descriptors in one process: more than one directory chunk.
	root := fakeFDs(t, map[int]int{10: 600, 20: 3, 30: 0})
	fsys := NewFS(root)
	seen := map[int]int{}
	require.NoError(t, fsys.WalkFDs(context.Background(), func(d FD) error {
		seen[d.PID]++
		st, err := d.Stat()
		require.NoError(t, err)
		assert.True(t, st.IsRegular())
		target, err := d.Target()
		require.NoError(t, err)
		assert.True(t, strings.HasSuffix(target, fmt.Sprintf("f-%d-%d", d.PID, d.FD)), target)
		return nil
	}))
	assert.Equal(t, map[int]int{10: 600, 20: 3}, seen, "the process without an fd dir is passed over")

	// SkipProc moves on to the next process.
	seen = map[int]int{}
	require.NoError(t, fsys.WalkFDs(context.Background(), func(d FD) error {
		seen[d.PID]++
		return SkipProc
	}))
	assert.Equal(t, map[int]int{10: 1, 20: 1}, seen)

	// Any other error stops the walk and comes back.
	stop := errors.New("stop")
	calls := 0
	err := fsys.WalkFDs(context.Background(), func(d FD) error { calls++; return stop })
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	// A cancelled context stops it too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, fsys.WalkFDs(ctx, func(FD) error { return nil }), context.Canceled)

	// Listing the mount point itself is an error.
	require.ErrorIs(t, NewFS(filepath.Join(root, "absent")).WalkFDs(context.Background(), func(FD) error { return nil }), os.ErrNotExist)

	// One process: its own walk.
	n := 0
	require.NoError(t, fsys.Proc(20).WalkFDs(context.Background(), func(FD) error { n++; return nil }))
	assert.Equal(t, 3, n)
	require.ErrorIs(t, fsys.Proc(77).WalkFDs(context.Background(), func(FD) error { return nil }), os.ErrNotExist)
}

func TestComm(t *testing.T) {
	c, err := fixture.Proc(42).Comm()
	require.NoError(t, err)
	assert.Equal(t, "python3", c)
	c, err = NewFS("").Self().Comm()
	require.NoError(t, err)
	assert.NotEmpty(t, c)
	_, err = fixture.Proc(9999).Comm()
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestLineCap feeds /dev/zero (one endless line) and an over-long line:
// each parser stops with ErrLineTooLong after MaxLine bytes instead of
// reading on.
func TestLineCap(t *testing.T) {
	long := strings.Repeat("a", MaxLine+1) + "\n"
	_, err := ParseMountInfo(strings.NewReader(long))
	assert.ErrorIs(t, err, ErrLineTooLong)
	_, err = ParseCgroups(strings.NewReader(long))
	assert.ErrorIs(t, err, ErrLineTooLong)
	assert.ErrorIs(t, ParseLocks(strings.NewReader(long), func(Lock) error { return nil }), ErrLineTooLong)

	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "5"), 0o755))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(root, "5", "maps")))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(root, "locks")))
	err = NewFS(root).Proc(5).Maps(func(Mapping) error { return nil })
	assert.ErrorIs(t, err, ErrLineTooLong)
	assert.ErrorContains(t, err, filepath.Join(root, "5", "maps"), "the error names the file")
	assert.ErrorIs(t, NewFS(root).Locks(func(Lock) error { return nil }), ErrLineTooLong)
}

func TestMkdevMatchesUnix(t *testing.T) {
	for _, d := range [][2]uint32{{0, 0}, {8, 1}, {0xfd, 1}, {259, 3}, {0xfff, 0xff}, {0x1000, 0x100}, {0xffffffff, 0xffffffff}} {
		assert.Equal(t, unix.Mkdev(d[0], d[1]), Mkdev(d[0], d[1]), "%v", d)
	}
}

func TestGone(t *testing.T) {
	assert.True(t, gone(os.ErrNotExist))
	assert.True(t, gone(&os.PathError{Err: syscall.ESRCH}))
	assert.True(t, gone(&os.PathError{Err: syscall.EACCES}))
	assert.False(t, gone(errors.New("other")))
}
