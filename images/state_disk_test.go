package images_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
