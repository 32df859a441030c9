package images_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
	"github.com/tendkit/tend/internal/testenv"
)

// A state file on a full file system: the plan (which only reads) works,
// the real run removes what it planned and fails naming the state file;
// the old state is intact. Out of inodes, the lock file cannot be made:
// the same.
func TestStateFileOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "mounting a tmpfs needs root")
	}
	for _, opts := range []string{"size=64k", "nr_inodes=3"} {
		t.Run(opts, func(t *testing.T) {
			dir := t.TempDir()
			if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
				testenv.Missing(t, "cannot mount a tmpfs here: %v", err)
			}
			t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
			state := filepath.Join(dir, "images.json")
			require.NoError(t, os.WriteFile(state, []byte(`{"version":2,"images":{}}`), 0o600))
			// Fill it.
			fill, err := os.Create(filepath.Join(dir, "fill"))
			require.NoError(t, err)
			fill.Write(make([]byte, 1<<20))
			fill.Close()
			for i := 0; ; i++ {
				if err := os.WriteFile(filepath.Join(dir, "f"+strings.Repeat("x", i%8)+string(rune('a'+i%26))), nil, 0o600); err != nil || i > 100 {
					break
				}
			}
			set := imagestest.CUDASet(3, 30, 5, now)
			e := imagestest.New(set)
			p := pruner(e, images.Policy{Match: []string{"*pytorch*"}})
			p.StateFile = state
			plan, err := p.Plan(context.Background())
			require.NoError(t, err, "a plan only reads")
			rep, err := p.Apply(context.Background(), plan)
			require.Error(t, err)
			assert.Contains(t, err.Error(), state)
			assert.Len(t, rep.Removed, len(plan.Removals), "the removals were made before the state write failed")
			b, rerr := os.ReadFile(state)
			require.NoError(t, rerr)
			assert.Equal(t, `{"version":2,"images":{}}`, string(b), "the old state is intact")
		})
	}
}

// A state path that names a FIFO, /dev/zero or a directory is an error
// naming it, at once (never a blocked open or an endless read).
func TestStateFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	zero := filepath.Join(dir, "zero")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	for _, path := range []string{fifo, zero, dir} {
		p := pruner(imagestest.New(imagestest.Set{}), images.Policy{Match: []string{"*"}})
		p.StateFile = path
		done := make(chan error, 1)
		go func() { _, err := p.Plan(context.Background()); done <- err }()
		select {
		case err := <-done:
			require.Error(t, err, path)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "not a regular file")
		case <-time.After(10 * time.Second):
			t.Fatalf("Plan with state %s did not return", path)
		}
		f := &images.Follower{Engine: imagestest.New(imagestest.Set{}), StateFile: path}
		assert.ErrorContains(t, f.Run(context.Background()), "not a regular file")
	}
}
