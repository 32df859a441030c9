package cleanup_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/internal/testenv"
)

func ago(d float64) time.Time { return time.Now().Add(-time.Duration(d * float64(24*time.Hour))) }

// tree lists every entry under root, relative to it (symlinks not followed).
func tree(t *testing.T, root string) map[string]bool {
	out := map[string]bool{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out[rel] = true
		}
		return nil
	}))
	return out
}

func gone(before, after map[string]bool) []string {
	var out []string
	for p := range before {
		if !after[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func setTimes(t *testing.T, p string, tm time.Time) {
	ts := []unix.Timespec{unix.NsecToTimespec(tm.UnixNano()), unix.NsecToTimespec(tm.UnixNano())}
	require.NoError(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
}

// genTree builds the same pseudo-random tree for every seed: nested
// directories, files of various ages (none in the 7..8 day window where
// find's whole-day rounding differs, except "edge"), old and new symlinks,
// a FIFO, and the files a test holds open or locked.
func genTree(t *testing.T, root string) {
	rng := rand.New(rand.NewSource(7))
	ages := []float64{0.5, 1, 3, 6, 9, 30, 400}
	mk := osMaker(t)
	var dirs []string
	for i := range 40 {
		d := root
		for j := 0; j <= rng.Intn(3); j++ {
			d = filepath.Join(d, fmt.Sprintf("d%d", rng.Intn(6)))
		}
		dirs = append(dirs, d)
		for k := range 1 + rng.Intn(4) {
			mk.file(filepath.Join(d, fmt.Sprintf("f%d-%d", i, k)), int64(rng.Intn(5000)), ago(ages[rng.Intn(len(ages))]))
		}
	}
	mk.file(filepath.Join(root, "edge"), 10, ago(7.5))
	mk.file(filepath.Join(root, "held_open"), 10, ago(30))
	mk.file(filepath.Join(root, "held_lock"), 10, ago(30))
	mk.file(filepath.Join(root, "name\nwith newline \xff\xfe"), 10, ago(30))
	mk.symlink("/etc/passwd", filepath.Join(root, "oldlink"), ago(30))
	mk.symlink("d0", filepath.Join(root, "newlink"), ago(0))
	mk.fifo(filepath.Join(root, "fifo"), ago(30))
	// Directories: old, except one kept fresh; deepest first so setting a
	// child's times does not refresh its parent.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		for p := d; p != root; p = filepath.Dir(p) {
			setTimes(t, p, ago(20))
		}
	}
	mk.dir(filepath.Join(root, "freshdir"), ago(0)) // names starting with "d" are directories
	setTimes(t, root, ago(20))
}

// holdOpen starts `sleep` with path as its stdin; holdLock runs
// `flock path sleep`; both are killed when the test ends.
func holdOpen(t *testing.T, path string) {
	f, err := os.Open(path)
	require.NoError(t, err)
	cmd := exec.Command(testenv.LookPath(t, "sleep", "coreutils"), "120")
	cmd.Stdin = f
	require.NoError(t, cmd.Start())
	f.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

func holdLock(t *testing.T, path string) {
	cmd := exec.Command(testenv.LookPath(t, "flock", "util-linux"), path, "sleep", "120")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	for i := 0; ; i++ {
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK {
			return // the child holds it
		}
		unix.Flock(fd, unix.LOCK_UN)
		require.Less(t, i, 500, "flock child never took the lock")
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDifferentialFindAndTmpfiles sweeps three copies of one tree with
// tend, `find -type f -atime +7 -delete` and `systemd-tmpfiles --clean`
// and checks that they delete the same entries except for the designed
// differences, which are listed and asserted.
func TestDifferentialFindAndTmpfiles(t *testing.T) {
	find := testenv.LookPath(t, "find", "findutils")
	tmpfiles := testenv.LookPath(t, "systemd-tmpfiles", "systemd")
	base := t.TempDir()
	roots := map[string]string{}
	before := map[string]map[string]bool{}
	for _, n := range []string{"tend", "find", "tmpfiles"} {
		roots[n] = filepath.Join(base, n)
		genTree(t, roots[n])
		before[n] = tree(t, roots[n])
	}
	// A mount point inside each root, holding an old file: find (without
	// -xdev) crosses into it, tmpfiles and tend do not.
	mounted := os.Geteuid() == 0
	if mounted {
		for _, n := range []string{"tend", "find", "tmpfiles"} {
			mnt := filepath.Join(roots[n], "mnt")
			require.NoError(t, os.Mkdir(mnt, 0o755))
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
				t.Logf("no mount point case: mount tmpfs: %v: %s", err, out)
				mounted = false
				break
			}
			t.Cleanup(func() { exec.Command("umount", mnt).Run() })
			osMaker(t).file(filepath.Join(mnt, "old"), 10, ago(30))
			setTimes(t, mnt, ago(30))
			setTimes(t, roots[n], ago(20))
			before[n] = tree(t, roots[n])
		}
	} else {
		t.Log("not root: no mount point case")
	}
	require.Equal(t, before["tend"], before["find"])
	// Only tend's copy is held: holding changes nothing for the peers.
	holdOpen(t, filepath.Join(roots["tend"], "held_open"))
	holdLock(t, filepath.Join(roots["tend"], "held_lock"))

	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: roots["tend"], OlderThan: 7 * 24 * time.Hour}}}
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonOpen])
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonLocked])
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonSpecial])
	if mounted {
		assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonMount])
	}

	out, err := exec.Command(find, roots["find"], "-type", "f", "-atime", "+7", "-delete").CombinedOutput()
	require.NoError(t, err, "%s", out)
	conf := filepath.Join(base, "tend-test.conf")
	require.NoError(t, os.WriteFile(conf, []byte("d "+roots["tmpfiles"]+" - - - aA:7d\n"), 0o644))
	out, err = exec.Command(tmpfiles, "--clean", conf).CombinedOutput()
	require.NoError(t, err, "%s", out)

	del := map[string][]string{}
	for n, r := range roots {
		del[n] = gone(before[n], tree(t, r))
	}
	isFile := func(rel string) bool {
		return !strings.HasPrefix(filepath.Base(rel), "d") && !strings.Contains(rel, "link") && rel != "fifo"
	}
	var tendFiles []string
	for _, p := range del["tend"] {
		if isFile(p) {
			tendFiles = append(tendFiles, p)
		}
	}
	require.NotEmpty(t, del["find"])
	// find (files only) vs tend's files: find rounds ages down to whole
	// days (+7 means at least 8 days: "edge", 7.5 days, stays) and deletes
	// files held open or locked.
	// find also crosses the mount point and deletes the old file there.
	findOnly := []string{"held_open", "held_lock"}
	if mounted {
		findOnly = append(findOnly, "mnt/old")
		assert.Contains(t, del["find"], "mnt/old", "find without -xdev crosses mounts")
		assert.NotContains(t, del["tmpfiles"], "mnt/old", "tmpfiles does not cross mounts")
		assert.NotContains(t, del["tend"], "mnt/old", "tend does not cross mounts")
	}
	assert.Equal(t, difference(del["find"], findOnly), difference(tendFiles, []string{"edge"}))
	assert.Contains(t, del["tend"], "oldlink", "tend removes an old symlink itself; find -type f leaves it")
	assert.NotContains(t, del["find"], "oldlink")
	// tmpfiles vs tend, everything: tmpfiles deletes held files (it only
	// honours locks on directories) and old FIFOs; tend skips both.
	var tmpfilesDiff []string
	for _, p := range []string{"held_open", "held_lock", "fifo"} {
		if contains(del["tmpfiles"], p) {
			tmpfilesDiff = append(tmpfilesDiff, p)
		}
	}
	assert.Equal(t, []string{"held_open", "held_lock", "fifo"}, tmpfilesDiff)
	assert.Equal(t, difference(del["tmpfiles"], tmpfilesDiff), del["tend"])
	t.Logf("deleted: tend %d, find %d, tmpfiles %d; tmpfiles-only: %v", len(del["tend"]), len(del["find"]), len(del["tmpfiles"]), tmpfilesDiff)
	for _, p := range []string{"held_open", "held_lock", "fifo", "newlink", "freshdir"} {
		assert.NotContains(t, del["tend"], p)
	}
	assert.Contains(t, del["tend"], "name\nwith newline \xff\xfe")
}

func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// TestReportItemsBound: a real sweep lists at most ReportItems deletions,
// the first ones in plan order, and counts the rest; everything still goes.
func TestReportItemsBound(t *testing.T) {
	base := t.TempDir()
	mk := osMaker(t)
	for _, r := range []string{"a", "b"} {
		for i := range 30 {
			mk.file(filepath.Join(base, r, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%02d", i)), 3, ago(30))
		}
	}
	for _, r := range []string{"a", "b"} {
		for i := range 3 {
			setTimes(t, filepath.Join(base, r, fmt.Sprintf("d%d", i)), ago(30))
		}
	}
	rule := cleanup.Rule{Root: filepath.Join(base, "a"), OlderThan: 7 * 24 * time.Hour}
	plan, err := (&cleanup.Sweeper{Rules: []cleanup.Rule{rule}}).Plan(context.Background())
	require.NoError(t, err)
	require.Len(t, plan.Items(), 33, "30 files and 3 emptied directories")

	s := &cleanup.Sweeper{Rules: []cleanup.Rule{rule}, ReportItems: 7}
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, 33, rep.Deleted)
	assert.EqualValues(t, 90, rep.Bytes)
	assert.Equal(t, 26, rep.ItemsOmitted)
	assert.Equal(t, paths(plan.Items()[:7]), paths(rep.Items()), "the listed items are the first of the plan")
	assert.Empty(t, tree(t, rule.Root))

	s = &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: filepath.Join(base, "b"), OlderThan: 7 * 24 * time.Hour}}, ReportItems: -1}
	plan, err = s.Sweep(context.Background(), true)
	require.NoError(t, err)
	rep, err = s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Len(t, rep.Items(), 33)
	assert.Equal(t, plan.Items(), rep.Items(), "a dry run lists exactly what the real run deletes, in order, with bytes")
	assert.Zero(t, rep.ItemsOmitted)
}

// TestDifferentialTmpfilesDefaultAge compares tend's "newest" age with a
// plain `d ROOT - - - 7d` line, whose default age-by is abcmABM: atime,
// birth, ctime and mtime for files, the same but ctime for directories.
// On a tree whose atimes and mtimes were set back (ctime and birth time are
// now), both keep every file and symlink (ctime is fresh); tend removes an
// old empty directory that tmpfiles keeps for its fresh birth time, since
// tend's "newest" reads atime, mtime and (files only) ctime, never birth.
func TestDifferentialTmpfilesDefaultAge(t *testing.T) {
	tmpfiles := testenv.LookPath(t, "systemd-tmpfiles", "systemd")
	base := t.TempDir()
	roots := map[string]string{}
	before := map[string]map[string]bool{}
	for _, n := range []string{"tend", "tmpfiles"} {
		r := filepath.Join(base, n)
		roots[n] = r
		mk := osMaker(t)
		mk.file(filepath.Join(r, "sub", "old"), 10, ago(30))
		mk.file(filepath.Join(r, "new"), 10, ago(0))
		mk.symlink("sub/old", filepath.Join(r, "oldlink"), ago(30))
		before[n] = tree(t, r)
		// After tree(): reading a directory refreshes its atime (relatime).
		mk.dir(filepath.Join(r, "emptyold"), ago(30))
		before[n]["emptyold"] = true
		setTimes(t, filepath.Join(r, "sub"), ago(30))
		setTimes(t, r, ago(30))
	}
	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: roots["tend"], OlderThan: 7 * 24 * time.Hour, Age: cleanup.AgeBasisNewest}}}
	_, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	conf := filepath.Join(base, "tend-test.conf")
	require.NoError(t, os.WriteFile(conf, []byte("d "+roots["tmpfiles"]+" - - - 7d\n"), 0o644))
	out, err := exec.Command(tmpfiles, "--clean", conf).CombinedOutput()
	require.NoError(t, err, "%s", out)

	assert.Empty(t, gone(before["tmpfiles"], tree(t, roots["tmpfiles"])), "fresh ctime (files) and birth time (directories) keep everything")
	assert.Equal(t, []string{"emptyold"}, gone(before["tend"], tree(t, roots["tend"])), "tend: fresh ctime keeps files and symlinks; directories age by atime and mtime")
}

// TestListedDirectories: the real FS names directories in its listing, so
// they are opened straight away and described only then. A locked one is
// still not entered, nor is a mount point that mountinfo does not name
// (this Proc has only /proc/locks): the open directory's device tells.
func TestListedDirectories(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	mk := osMaker(t)
	mk.file(filepath.Join(root, "locked", "old"), 1, ago(30))
	mk.file(filepath.Join(root, "plain", "old"), 1, ago(30))
	holdLock(t, filepath.Join(root, "locked"))
	proc := filepath.Join(base, "proc")
	require.NoError(t, os.Mkdir(proc, 0o755))
	require.NoError(t, os.Symlink("/proc/locks", filepath.Join(proc, "locks")))
	mounted := false
	if os.Geteuid() == 0 {
		mnt := filepath.Join(root, "mnt")
		require.NoError(t, os.Mkdir(mnt, 0o755))
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Logf("no mount point case: mount tmpfs: %v: %s", err, out)
		} else {
			t.Cleanup(func() { exec.Command("umount", mnt).Run() })
			mounted = true
			mk.file(filepath.Join(mnt, "old"), 1, ago(30))
		}
	}
	_, isLister := any(openRoot(t, root)).(cleanup.EntryLister)
	require.True(t, isLister, "the real FS lists entry types")

	s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, Proc: proc}
	rep, err := s.Sweep(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(root, "plain", "old")}, paths(rep.Items()))
	assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonLocked], "the locked directory")
	assert.FileExists(t, filepath.Join(root, "locked", "old"))
	if mounted {
		assert.Equal(t, 1, rep.Skipped[cleanup.SkipReasonMount], "the mount point, by its device")
		assert.FileExists(t, filepath.Join(root, "mnt", "old"))
	}
}

func openRoot(t *testing.T, root string) cleanup.Dir {
	d, err := cleanup.OS().OpenRoot(root)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}
