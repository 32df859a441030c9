package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// leftovers lists the temporary files Write left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var tmp []string
	for _, e := range es {
		if IsTemp(e.Name()) {
			tmp = append(tmp, e.Name())
		}
	}
	return tmp
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	require.NoError(t, WriteFile(path, []byte("one"), 0o644))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one", string(b))

	before, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, WriteFile(path, []byte("two, longer"), 0o644))
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two, longer", string(b))
	after, err := os.Stat(path)
	require.NoError(t, err)
	assert.False(t, os.SameFile(before, after), "replaced by rename, not rewritten in place")
	assert.Empty(t, leftovers(t, dir))
}

func TestWritePermIsExact(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for _, tc := range []struct {
		perm, want os.FileMode
	}{{0, 0o600}, {0o644, 0o644}, {0o640, 0o640}, {0o600, 0o600}} {
		path := filepath.Join(dir, "f")
		require.NoError(t, WriteFile(path, []byte("x"), tc.perm))
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, tc.want, st.Mode().Perm(), "perm %o under umask 077", tc.perm)
	}
}

func TestWriteFillErrorKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.prom")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	boom := errors.New("boom")
	err := Write(path, Options{}, func(w io.Writer) error {
		_, _ = w.Write([]byte("half of the new"))
		return boom
	})
	require.Equal(t, boom, err, "fill's error comes back as is")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b))
	assert.Empty(t, leftovers(t, dir), "the temporary file is removed")
}

func TestWriteNoReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log.1.gz")
	require.NoError(t, os.WriteFile(path, []byte("backup"), 0o644))
	err := Write(path, Options{NoReplace: true, Perm: 0o644}, func(w io.Writer) error {
		_, err := w.Write([]byte("other"))
		return err
	})
	require.ErrorIs(t, err, os.ErrExist)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "backup", string(b), "an existing file is never overwritten")
	assert.Empty(t, leftovers(t, dir))

	fresh := filepath.Join(dir, "app.log.2.gz")
	require.NoError(t, Write(fresh, Options{NoReplace: true}, func(w io.Writer) error {
		_, err := w.Write([]byte("new"))
		return err
	}))
	b, err = os.ReadFile(fresh)
	require.NoError(t, err)
	assert.Equal(t, "new", string(b))
}

func TestRenameCheckFirst(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.WriteFile(from, []byte("a"), 0o600))
	require.NoError(t, os.WriteFile(to, []byte("b"), 0o600))
	require.ErrorIs(t, renameCheckFirst(from, to), os.ErrExist)
	require.NoError(t, os.Remove(to))
	require.NoError(t, renameCheckFirst(from, to))
	assert.NoFileExists(t, from)
}

func TestWriteMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "state.json")
	err := WriteFile(path, []byte("x"), 0o600)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "create temporary file")
	assert.Contains(t, err.Error(), filepath.Dir(path), "the operating system's error names the directory")
	err = WriteFile(t.TempDir()+"/", []byte("x"), 0o600)
	require.Error(t, err, "a path with no file name")
}

func TestWriteRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, WriteFile("rel.txt", []byte("here"), 0o600))
	b, err := os.ReadFile("rel.txt")
	require.NoError(t, err)
	assert.Equal(t, "here", string(b))
}

func TestIsTemp(t *testing.T) {
	assert.True(t, IsTemp(".state.json.tend-tmp123"))
	assert.True(t, IsTemp("/var/log/.app.log.1.gz.tend-tmp9"))
	assert.False(t, IsTemp("state.json"))
	assert.False(t, IsTemp("app.log.tend-tmp1"), "not hidden: not ours")
	assert.False(t, IsTemp(".hidden"))
}

// mountTmpfs mounts a tmpfs with the given options on a fresh directory.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestWriteFullDisk fills a 1 MiB tmpfs: the write fails with ENOSPC, the
// old file is intact and no temporary file is left to eat the space.
func TestWriteFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "size=1m")
	path := filepath.Join(dir, "state.json")
	require.NoError(t, WriteFile(path, []byte("old"), 0o644))
	err := WriteFile(path, bytes.Repeat([]byte("n"), 2<<20), 0o644)
	require.ErrorIs(t, err, syscall.ENOSPC)
	b, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.Equal(t, "old", string(b))
	assert.Empty(t, leftovers(t, dir))
	// The space came back: a small write works again.
	require.NoError(t, WriteFile(path, []byte("new"), 0o644))
}

// TestWriteNoInodes runs out of inodes: the temporary file cannot be
// created, the error says so and the old file is intact.
func TestWriteNoInodes(t *testing.T) {
	dir := mountTmpfs(t, "size=1m,nr_inodes=2") // the root and one file
	path := filepath.Join(dir, "state.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	err := WriteFile(path, []byte("new"), 0o644)
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Contains(t, err.Error(), "create temporary file")
	b, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.Equal(t, "old", string(b))
}
