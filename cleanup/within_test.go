package cleanup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/cleanup"
)

// statFS wraps the real file system and counts every description it is
// asked for: Lstat by path or by name, Stat of an open directory. With
// untyped, its listings drop d_type (as a file system answering
// DT_UNKNOWN does).
type statFS struct {
	inner          cleanup.FS
	untyped        bool
	lstats, fstats atomic.Int64
}

type statDir struct {
	cleanup.Dir
	fs *statFS
}

func (f *statFS) OpenRoot(path string) (cleanup.Dir, error) {
	d, err := f.inner.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	return &statDir{Dir: d, fs: f}, nil
}

func (f *statFS) Lstat(path string) (cleanup.Info, error) {
	f.lstats.Add(1)
	return f.inner.Lstat(path)
}

func (d *statDir) Lstat(name string) (cleanup.Info, error) {
	d.fs.lstats.Add(1)
	return d.Dir.Lstat(name)
}

func (d *statDir) Stat() (cleanup.Info, error) {
	d.fs.fstats.Add(1)
	return d.Dir.Stat()
}

func (d *statDir) OpenDir(name string) (cleanup.Dir, error) {
	sub, err := d.Dir.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &statDir{Dir: sub, fs: d.fs}, nil
}

func (d *statDir) ReadEntries() ([]cleanup.DirEntry, error) {
	ents, err := d.Dir.(cleanup.EntryLister).ReadEntries()
	if d.fs.untyped {
		for i := range ents {
			ents[i].Typed = false
		}
	}
	return ents, err
}

// TestWithinReadsListingsOnly: a Within rule over a home of 20,000 other
// files describes the directories and the files inside the matching
// directories only, never the files beside them, and plans exactly what
// describing every file plans (a listing without d_type falls back to
// lstat per entry).
func TestWithinReadsListingsOnly(t *testing.T) {
	home := t.TempDir()
	const dirs, perDir = 200, 100
	old := time.Now().Add(-30 * 24 * time.Hour)
	for i := range dirs {
		d := filepath.Join(home, fmt.Sprintf("proj%03d", i), "src")
		require.NoError(t, os.MkdirAll(d, 0o755))
		for j := range perDir {
			p := filepath.Join(d, fmt.Sprintf("f%03d.py", j))
			require.NoError(t, os.WriteFile(p, nil, 0o644))
			require.NoError(t, os.Chtimes(p, old, old)) // old, but not within
		}
	}
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(home, "proj000", "link")))
	inside := 0
	var want []string
	for _, p := range []string{"proj001", "proj050/src", "proj199"} {
		cp := filepath.Join(home, p, ".ipynb_checkpoints")
		require.NoError(t, os.MkdirAll(cp, 0o755))
		for j := range 5 {
			f := filepath.Join(cp, fmt.Sprintf("nb%d-checkpoint.ipynb", j))
			require.NoError(t, os.WriteFile(f, []byte("{}"), 0o644))
			inside++
			if j%2 == 0 {
				require.NoError(t, os.Chtimes(f, old, old))
				want = append(want, f)
			}
		}
	}
	sort.Strings(want)
	allDirs := 1 + 2*dirs + 3 // the home, proj*/src, the checkpoints
	others := dirs*perDir + 1 // files and the symlink outside

	plan := func(fsys *statFS) []string {
		s := &cleanup.Sweeper{FS: fsys, Home: home, Workers: 2, Rules: []cleanup.Rule{{
			Root: home, Within: []string{".ipynb_checkpoints"}, OlderThan: 7 * 24 * time.Hour, Age: cleanup.AgeBasisMtime}}}
		rep, err := s.Plan(context.Background())
		require.NoError(t, err)
		assert.Equal(t, others+inside+allDirs, rep.Scanned+1, "every entry is listed (the root is not counted)")
		var got []string
		for it := range rep.AllItems() {
			got = append(got, it.Path)
		}
		sort.Strings(got)
		return got
	}

	typed := &statFS{inner: cleanup.OS()}
	assert.Equal(t, want, plan(typed))
	t.Logf("typed listings: %d lstat, %d fstat for %d directories, %d files", typed.lstats.Load(), typed.fstats.Load(), allDirs, others+inside)
	// The root is described by path once (admit); inside the checkpoints
	// each file once; every directory once, by fstat of its descriptor.
	assert.Equal(t, int64(1+inside), typed.lstats.Load(), "lstat: the root and the files inside the matching directories")
	assert.Equal(t, int64(allDirs), typed.fstats.Load(), "fstat: one per directory")

	untyped := &statFS{inner: cleanup.OS(), untyped: true}
	assert.Equal(t, want, plan(untyped), "the same plan without d_type")
	assert.Equal(t, int64(1+others+inside), untyped.lstats.Load(), "DT_UNKNOWN: every file described by lstat")
}
