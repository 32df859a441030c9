package health

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/internal/testenv"
)

// smallTmpfs mounts a tmpfs of the given options on a fresh directory, or
// skips (fails under TEND_INTEGRATION=required) where mounting is not
// allowed.
func smallTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tend-test", dir, "tmpfs", 0, opts); err != nil {
		testenv.Missing(t, "mount a tmpfs (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// TestDiskFullFailsWithoutMinimum fills a real tmpfs to the last byte and
// another to the last inode: the disk check fails with no minimum
// configured, as it must for the default probe on a full /.
func TestDiskFullFailsWithoutMinimum(t *testing.T) {
	t.Run("no bytes free", func(t *testing.T) {
		dir := smallTmpfs(t, "size=1m,nr_inodes=1000")
		c := &Disk{Path: dir}
		require.Equal(t, StatusPass, c.Check(context.Background()).Status)
		f, err := os.Create(filepath.Join(dir, "fill"))
		require.NoError(t, err)
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				require.ErrorIs(t, err, unix.ENOSPC)
				break
			}
		}
		f.Close()
		r := c.Check(context.Background())
		assert.Equal(t, StatusFail, r.Status, r.Message)
		assert.Contains(t, r.Message, "the file system is full")
		// Room again: pass again.
		require.NoError(t, os.Remove(filepath.Join(dir, "fill")))
		assert.Equal(t, StatusPass, c.Check(context.Background()).Status)
	})
	t.Run("no inodes free", func(t *testing.T) {
		dir := smallTmpfs(t, "size=16m,nr_inodes=64")
		c := &Disk{Path: dir}
		require.Equal(t, StatusPass, c.Check(context.Background()).Status)
		for i := 0; ; i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
			if err != nil {
				require.ErrorIs(t, err, unix.ENOSPC)
				break
			}
			f.Close()
		}
		r := c.Check(context.Background())
		assert.Equal(t, StatusFail, r.Status, r.Message)
		assert.Contains(t, r.Message, "no inodes left")
	})
}
