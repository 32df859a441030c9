package health

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProc builds a /proc-like tree: pid/fd/N are symlinks to real files
// whose names end in " (deleted)", so readlink sees what the kernel shows
// and stat finds a size.
func fakeProc(t *testing.T, files map[int][]int64) string {
	t.Helper()
	root, store := t.TempDir(), t.TempDir()
	for pid, sizes := range files {
		fd := filepath.Join(root, fmt.Sprint(pid), "fd")
		require.NoError(t, os.MkdirAll(fd, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, fmt.Sprint(pid), "comm"), []byte("python3\n"), 0o644))
		for i, size := range sizes {
			target := filepath.Join(store, fmt.Sprintf("log-%d-%d (deleted)", pid, i))
			require.NoError(t, os.WriteFile(target, nil, 0o644))
			require.NoError(t, os.Truncate(target, size))
			require.NoError(t, os.Symlink(target, filepath.Join(fd, fmt.Sprint(3+i))))
		}
		// A live file and a pipe-like link are not counted.
		require.NoError(t, os.Symlink(filepath.Join(store), filepath.Join(fd, "0")))
		require.NoError(t, os.Symlink("pipe:[1234]", filepath.Join(fd, "1")))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "self"), 0o755))
	return root
}

func TestDeletedOpenFixture(t *testing.T) {
	root := fakeProc(t, map[int][]int64{10: {300 << 20, 1 << 20}, 20: {900 << 20}, 30: nil})
	files, err := ScanDeletedOpen(context.Background(), root)
	require.NoError(t, err)
	require.Len(t, files, 3)
	assert.Equal(t, 20, files[0].PID, "largest first")
	assert.EqualValues(t, 900<<20, files[0].Bytes)
	assert.Equal(t, "python3", files[0].Comm)
	assert.False(t, strings.HasSuffix(files[0].Path, "(deleted)"))

	tests := []struct {
		c      DeletedOpen
		status Status
		msg    string
	}{
		{DeletedOpen{Proc: root}, StatusWarn, "1.2GiB held by 3 deleted files in 2 processes"},
		{DeletedOpen{Proc: root, WarnBytes: 2 << 30}, StatusPass, "1.2GiB held by 3 deleted files"},
		{DeletedOpen{Proc: root, FailBytes: 1 << 30}, StatusFail, "at or over 1.0GiB"},
		{DeletedOpen{Proc: filepath.Join(root, "nowhere")}, StatusFail, "scan deleted open files"},
	}
	for _, tt := range tests {
		r := tt.c.Check(context.Background())
		assert.Equal(t, tt.status, r.Status, r.Message)
		assert.Contains(t, r.Message, tt.msg)
	}
	r := (&DeletedOpen{Proc: root}).Check(context.Background())
	assert.EqualValues(t, map[int]int64{10: 301 << 20, 20: 900 << 20}, r.Details["bytes_per_pid"])
}

// TestDeletedOpenRealProc unlinks a file this process holds open and finds
// it in the real /proc.
func TestDeletedOpenRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc here")
	}
	path := filepath.Join(t.TempDir(), "rotated.log")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Write(make([]byte, 3<<20))
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))

	files, err := ScanDeletedOpen(context.Background(), "/proc")
	require.NoError(t, err)
	var found *DeletedFile
	for i := range files {
		if files[i].PID == os.Getpid() && files[i].Path == path {
			found = &files[i]
		}
	}
	require.NotNil(t, found, "unlinked %s not found among %v", path, files)
	assert.EqualValues(t, 3<<20, found.Bytes)

	r := (&DeletedOpen{WarnBytes: 1 << 20}).Check(context.Background())
	assert.Equal(t, StatusWarn, r.Status)
	per := r.Details["bytes_per_pid"].(map[int]int64)
	assert.GreaterOrEqual(t, per[os.Getpid()], int64(3<<20))
}
