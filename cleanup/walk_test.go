package cleanup_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/cleanup/cleanuptest"
	"github.com/tendkit/tend/internal/testenv"
)

// TestForkedPartPaths is the smallest tree that took a forked part of the
// parallel walk into an endless path loop (ROOT/d1/{e1,e2}, two old empty
// directories, default Workers): every deletion is logged once with its
// real path, with one rule and with two.
func TestForkedPartPaths(t *testing.T) {
	for _, rules := range []int{1, 2} {
		base := t.TempDir()
		mk := osMaker(t)
		var spec limitedSpec
		var want []string
		for r := range rules {
			root := filepath.Join(base, "root"+string(rune('a'+r)))
			mk.dir(filepath.Join(root, "d1", "e1"), ago(30))
			mk.dir(filepath.Join(root, "d1", "e2"), ago(30))
			setTimes(t, filepath.Join(root, "d1"), ago(30))
			spec.Rules = append(spec.Rules, cleanup.Rule{Root: root, OlderThan: time.Hour})
			want = append(want, filepath.Join(root, "d1", "e1"), filepath.Join(root, "d1", "e2"), filepath.Join(root, "d1"))
		}
		spec.MemMiB = 256
		res := runLimited(t, spec, time.Minute)
		assert.ElementsMatch(t, want, res.deletedPaths(), "%d rules: each deletion logged once with its real path", rules)
		assert.Equal(t, want, paths(res.Report.Items))
		assert.Empty(t, res.Report.Errors)
		for _, p := range want {
			assert.NoFileExists(t, p)
			assert.NoDirExists(t, p)
		}
	}
}

// TestForkedPartErrorPaths: the errors met inside a forked part (an
// unreadable directory two levels down, a file this user may not remove)
// name the real path, in a dry run and in a real run, as an unprivileged
// user.
func TestForkedPartErrorPaths(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	mk := osMaker(t)
	mk.file(filepath.Join(root, "a", "b", "secret", "x"), 1, ago(30))
	mk.file(filepath.Join(root, "a", "b", "ok"), 1, ago(30))
	mk.file(filepath.Join(root, "a", "locked", "y"), 1, ago(30))
	mk.file(filepath.Join(root, "z", "old"), 1, ago(30))
	if os.Geteuid() == 0 {
		chownTree(t, root, 65534)
		require.NoError(t, os.Chown(filepath.Join(root, "a", "b", "secret"), 0, 0))
		require.NoError(t, os.Chown(filepath.Join(root, "a", "locked"), 0, 0))
	}
	require.NoError(t, os.Chmod(filepath.Join(root, "a", "b", "secret"), 0o700))
	require.NoError(t, os.Chmod(filepath.Join(root, "a", "locked"), 0o555))
	t.Cleanup(func() {
		os.Chmod(filepath.Join(root, "a", "b", "secret"), 0o755)
		os.Chmod(filepath.Join(root, "a", "locked"), 0o755)
	})
	for p := base; p != "/"; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			require.NoError(t, os.Chmod(p, st.Mode().Perm()|0o011))
		}
	}
	for _, dry := range []bool{true, false} {
		res := runLimited(t, limitedSpec{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, DryRun: dry,
			Nobody: true, MemMiB: 256}, time.Minute)
		errs := strings.Join(res.Report.Errors, "\n")
		assert.Contains(t, errs, " "+filepath.Join(root, "a", "b", "secret")+": permission denied", "dry=%v", dry)
		assert.Contains(t, errs, "remove "+filepath.Join(root, "a", "locked", "y")+":", "dry=%v", dry)
		assert.Equal(t, []string{filepath.Join(root, "a", "b", "ok"), filepath.Join(root, "z", "old")}, paths(res.Report.Items), "dry=%v %s", dry, res.Stdout)
		if !dry {
			assert.ElementsMatch(t, paths(res.Report.Items), res.deletedPaths())
		}
	}
}

// chains builds n chains of directories depth deep under root, each level
// holding one old file, everything 30 days old; it returns how many
// entries that is.
func chains(t *testing.T, root string, n, depth int) int {
	old := unix.NsecToTimespec(ago(30).UnixNano())
	ts := []unix.Timespec{old, old}
	require.NoError(t, os.MkdirAll(root, 0o755))
	for c := range n {
		fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		name := fmt.Sprintf("c%02d", c)
		var fds []int
		for range depth {
			require.NoError(t, unix.Mkdirat(fd, name, 0o755))
			nfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			require.NoError(t, err)
			ffd, err := unix.Openat(nfd, "f", unix.O_CREAT|unix.O_WRONLY, 0o644)
			require.NoError(t, err)
			unix.Close(ffd)
			require.NoError(t, unix.UtimesNanoAt(nfd, "f", ts, 0))
			fds = append(fds, fd)
			fd, name = nfd, "d"
		}
		for i := len(fds) - 1; i >= 0; i-- {
			n := "d"
			if i == 0 {
				n = fmt.Sprintf("c%02d", c)
			}
			require.NoError(t, unix.UtimesNanoAt(fds[i], n, ts, 0))
			unix.Close(fds[i])
		}
		unix.Close(fd)
	}
	return n * depth * 2
}

// TestDescriptorBudget sweeps 16 chains 2,000 deep with 16 workers under a
// 20,000 and then a 256 descriptor limit (a budget of 128), and one chain
// 12,000 deep under 256: everything goes, nothing is left unswept with
// "too many open files", and no path is wrong.
func TestDescriptorBudget(t *testing.T) {
	testenv.Short(t)
	cases := []struct{ chains, depth, nofile int }{{16, 2000, 20000}, {16, 2000, 256}, {1, 12000, 256}}
	for _, c := range cases {
		root := filepath.Join(scratchTmpfs(t), "root")
		start := time.Now()
		n := chains(t, root, c.chains, c.depth)
		built := time.Now()
		res := runLimited(t, limitedSpec{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, Workers: 16,
			NoFile: c.nofile, MemMiB: 512, Quiet: true}, 5*time.Minute)
		t.Logf("%+v: built in %v, swept in %v", c, built.Sub(start), time.Since(built))
		assert.Empty(t, res.Report.Errors, "%+v", c)
		assert.Equal(t, n, res.Report.Deleted, "%+v: every file and directory", c)
		ents, err := os.ReadDir(root)
		require.NoError(t, err)
		assert.Empty(t, ents, "%+v", c)
		require.Len(t, res.Report.Items, 1000, "ReportItems' default")
		assert.Equal(t, filepath.Join(root, "c00", strings.Repeat("d/", 999)+"f"), res.Report.Items[999].Path, "%+v", c)
	}
}

// TestApplyDescriptorBudget: a real sweep that carries out a whole plan
// (keep_under makes Sweep plan first, then Apply) keeps to the same
// descriptor budget as the walk: a chain 12,000 deep goes whole under a
// 256-descriptor limit (a budget of 128), with 16 workers. Before, Apply
// held one descriptor per level and failed with "too many open files".
func TestApplyDescriptorBudget(t *testing.T) {
	testenv.Short(t)
	for _, workers := range []int{16} {
		root := filepath.Join(scratchTmpfs(t), "root")
		start := time.Now()
		n := chains(t, root, 1, 12000)
		built := time.Now()
		res := runLimited(t, limitedSpec{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour, KeepUnder: 1 << 30}},
			Workers: workers, NoFile: 256, MemMiB: 512, Quiet: true, NoItems: true}, 5*time.Minute)
		t.Logf("built in %v, swept in %v", built.Sub(start), time.Since(built))
		assert.Empty(t, res.Report.Errors, "workers=%d", workers)
		assert.Equal(t, n, res.Report.Deleted, "workers=%d: every file and directory", workers)
		ents, err := os.ReadDir(root)
		require.NoError(t, err)
		assert.Empty(t, ents, "workers=%d", workers)
	}
}

// TestReopenChecksIdentity: with a budget so small that the walk closes
// and reopens directories, a directory moved away while the walk is
// below it is not swept from its new place.
func TestReopenFallsBackAndChecks(t *testing.T) {
	build := func() *cleanuptest.FS {
		f := cleanuptest.New()
		f.Mkdir("/r", daysAgo(40))
		for c := range 3 {
			p := fmt.Sprintf("/r/c%d", c)
			for range 40 {
				p += "/d"
				f.WriteFile(p+"/old", 1, daysAgo(30))
			}
		}
		return f
	}
	f := build()
	for _, w := range []int{1, 2, 16} {
		g := cleanuptest.New()
		g.Mkdir("/r", daysAgo(40))
		s := fakeSweeper(t, f, cleanup.Rule{Root: "/r", OlderThan: 7 * 24 * time.Hour})
		s.Workers, s.MaxOpenDirs = w, 1
		plan, err := s.Plan(context.Background())
		require.NoError(t, err)
		s.MaxOpenDirs = 0
		want, err := s.Plan(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 3*(2*40+1), len(plan.Items()), "workers=%d: every file and directory", w)
		assert.Equal(t, paths(want.Items()), paths(plan.Items()), "workers=%d: the same plan as without a budget", w)
		// Apply keeps to the same budget: it closes and reopens too.
		s.MaxOpenDirs = 1
		rep, err := s.Apply(context.Background(), plan)
		require.NoError(t, err)
		assert.Equal(t, paths(plan.Items()), paths(rep.Items()), "workers=%d: Apply under the budget", w)
		assert.Empty(t, f.Paths("/r"), "workers=%d: everything went", w)
		f = build()
	}
}

// vanishFS is the real file system, except that opening a directory named
// "vanish" removes it right after, so that reading it fails as it does
// when another process removes a directory the sweep has open.
type vanishFS struct{ cleanup.FS }

type vanishDir struct{ cleanup.Dir }

func (f vanishFS) OpenRoot(p string) (cleanup.Dir, error) {
	d, err := f.FS.OpenRoot(p)
	if err != nil {
		return nil, err
	}
	return vanishDir{d}, nil
}

func (d vanishDir) OpenDir(name string) (cleanup.Dir, error) {
	sub, err := d.Dir.OpenDir(name)
	if err != nil {
		return nil, err
	}
	if name == "vanish" {
		if err := d.Dir.Remove(name, true); err != nil {
			return nil, err
		}
	}
	return vanishDir{sub}, nil
}

func (d vanishDir) ReadEntries() ([]cleanup.DirEntry, error) {
	return d.Dir.(cleanup.EntryLister).ReadEntries()
}

// TestVanishedDirectoryIsGone: a directory removed after it was opened
// (getdents fails with ENOENT) is gone, not a failure.
func TestVanishedDirectoryIsGone(t *testing.T) {
	root := t.TempDir()
	mk := osMaker(t)
	mk.dir(filepath.Join(root, "a", "vanish"), ago(30))
	mk.file(filepath.Join(root, "a", "old"), 1, ago(30))
	mk.file(filepath.Join(root, "z", "old"), 1, ago(30))
	for _, w := range []int{1, 16} {
		s := &cleanup.Sweeper{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, FS: vanishFS{cleanup.OS()}, Workers: w}
		rep, err := s.Sweep(context.Background(), false)
		require.NoError(t, err, "workers=%d", w)
		assert.Equal(t, []string{filepath.Join(root, "a", "old"), filepath.Join(root, "z", "old")}, paths(rep.Items()))
		mk.dir(filepath.Join(root, "a", "vanish"), ago(30))
		mk.file(filepath.Join(root, "a", "old"), 1, ago(30))
		mk.file(filepath.Join(root, "z", "old"), 1, ago(30))
	}
}

// TestExplicitOSIsAsSafeAsNil: FS: cleanup.OS() runs the symlink-resolved
// dangerous-root and protect checks exactly as a nil FS does.
func TestExplicitOSIsAsSafeAsNil(t *testing.T) {
	base := t.TempDir()
	require.NoError(t, os.Symlink("/usr", filepath.Join(base, "sys")))
	real := filepath.Join(base, "real")
	osMaker(t).file(filepath.Join(real, "cache", "old"), 1, ago(30))
	require.NoError(t, os.Symlink(real, filepath.Join(base, "link")))
	for _, fsys := range []cleanup.FS{nil, cleanup.OS()} {
		s := &cleanup.Sweeper{FS: fsys, Rules: []cleanup.Rule{{Root: filepath.Join(base, "sys", "share"), OlderThan: time.Hour}}}
		_, err := s.Plan(context.Background())
		require.ErrorIs(t, err, cleanup.ErrDangerousRoot, "FS=%v: /usr/share through a symlinked parent", fsys)

		s = &cleanup.Sweeper{FS: fsys, Rules: []cleanup.Rule{{Root: filepath.Join(base, "link", "cache"), OlderThan: time.Hour}},
			Protect: []string{filepath.Join(real, "cache")}}
		plan, err := s.Plan(context.Background())
		require.NoError(t, err)
		assert.Empty(t, plan.Items(), "FS=%v: protected by its resolved path", fsys)
		assert.Contains(t, plan.Roots[0].Note, "protected")
	}
}

// TestJSONKeepsNames: two names that differ only in invalid UTF-8 bytes
// stay two names in the JSON report and in the JSON log, and decode back
// to their exact bytes.
func TestJSONKeepsNames(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	mk := osMaker(t)
	names := []string{"bad\xfe", "bad\xff", "new\nline", `back\xff`}
	for _, n := range names {
		mk.file(filepath.Join(root, n), 1, ago(30))
	}
	var want []string
	for _, n := range names {
		want = append(want, filepath.Join(root, n))
	}
	slices.Sort(want)
	for _, dry := range []bool{true, false} {
		res := runLimited(t, limitedSpec{Rules: []cleanup.Rule{{Root: root, OlderThan: time.Hour}}, DryRun: dry, MemMiB: 256}, time.Minute)
		assert.Equal(t, want, paths(res.Report.Items), "dry=%v: the report's JSON", dry)
		assert.Contains(t, string(res.Stdout), `"path":"\"`+root+`/bad\\xff\""`, "quoted as the text output does")
		assert.Contains(t, string(res.Stdout), `"path_b64":`)
		if !dry {
			var logged []string
			for _, rec := range res.Log {
				if rec["msg"] != "deleted" {
					continue
				}
				p := rec["path"].(string)
				if b, ok := rec["path_b64"].(string); ok {
					raw, err := base64.StdEncoding.DecodeString(b)
					require.NoError(t, err)
					assert.Equal(t, strconv.Quote(string(raw)), p)
					p = string(raw)
				}
				logged = append(logged, p)
			}
			assert.ElementsMatch(t, want, logged, "the JSON log")
		}
	}
}

// TestSpooledPlan: a plan larger than what a planner keeps in memory is
// spooled and read back whole and in order, with one worker or many, and
// Apply carries it out.
func TestSpooledPlan(t *testing.T) {
	build := func() *cleanuptest.FS {
		f := cleanuptest.New()
		f.Mkdir("/r", daysAgo(40))
		for a := range 6 {
			for b := range 7 {
				for i := range 500 + 300*a {
					f.WriteFile(fmt.Sprintf("/r/a%d/b%d/f%04d", a, b, i), 1, daysAgo(30))
				}
				f.Mkdir(fmt.Sprintf("/r/a%d/b%d", a, b), daysAgo(30))
			}
			f.Mkdir(fmt.Sprintf("/r/a%d", a), daysAgo(1))
		}
		return f
	}
	var want []string
	for a := range 6 {
		for b := range 7 {
			for i := range 500 + 300*a {
				want = append(want, fmt.Sprintf("/r/a%d/b%d/f%04d", a, b, i))
			}
			want = append(want, fmt.Sprintf("/r/a%d/b%d", a, b))
		}
	}
	rule := cleanup.Rule{Root: "/r", OlderThan: 7 * 24 * time.Hour}
	for _, w := range []int{1, 2, 16} {
		f := build()
		s := fakeSweeper(t, f, rule)
		s.Workers = w
		plan, err := s.Plan(context.Background())
		require.NoError(t, err)
		got := paths(plan.Items())
		require.Equal(t, len(want), len(got), "workers=%d", w)
		assert.True(t, slices.Equal(want, got), "workers=%d: the whole plan, in order", w)
		rep, err := s.Apply(context.Background(), plan)
		require.NoError(t, err)
		assert.Equal(t, len(want), rep.Deleted)
		assert.Equal(t, []string{"/r/a0", "/r/a1", "/r/a2", "/r/a3", "/r/a4", "/r/a5"}, f.Paths("/r"))
	}
}
