package rotate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGapsInNumbersClosed leaves gaps in the backup numbers (as a kill or
// a hand-deleted file does): the next rotation renumbers without gaps,
// keeps the newest keep backups in their order, and deletes only older
// ones.
func TestGapsInNumbersClosed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	for _, n := range []string{"1", "3", "4", "6"} {
		require.NoError(t, os.WriteFile(path+"."+n, []byte("backup "+n+"\n"), 0o644))
	}
	require.NoError(t, os.WriteFile(path, []byte("live\n"), 0o644))
	r := &Rotator{State: filepath.Join(dir, "s.json"), Rules: []Rule{{Path: path, Size: 1, Keep: 4, Create: &Create{UID: -1, GID: -1}}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err, rep.Lines())
	want := map[string]string{".1": "live\n", ".2": "backup 1\n", ".3": "backup 3\n", ".4": "backup 4\n"}
	for suffix, body := range want {
		b, err := os.ReadFile(path + suffix)
		require.NoError(t, err, suffix)
		assert.Equal(t, body, string(b), suffix)
	}
	assert.NoFileExists(t, path+".5")
	assert.NoFileExists(t, path+".6", "beyond keep 4")

	// Not rotating closes gaps too.
	require.NoError(t, os.Remove(path+".2"))
	rep, err = (&Rotator{State: r.State, Rules: []Rule{{Path: path, Size: 1 << 20, Keep: 4, Create: &Create{UID: -1, GID: -1}}}}).Rotate(context.Background())
	require.NoError(t, err, rep.Lines())
	for suffix, body := range map[string]string{".1": "live\n", ".2": "backup 3\n", ".3": "backup 4\n"} {
		b, err := os.ReadFile(path + suffix)
		require.NoError(t, err, suffix)
		assert.Equal(t, body, string(b), suffix)
	}
}

// TestCompressionRetriedAfterENOSPC fills a small tmpfs so that the
// compression of a rotated log fails, then frees space: the next run,
// with nothing to rotate, compresses the backup left plain.
func TestCompressionRetriedAfterENOSPC(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	path := filepath.Join(dir, "app.log")
	noise := make([]byte, 700<<10)
	rand.Read(noise)
	require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(noise)[:900<<10]+"\n"), 0o644))
	fill := filepath.Join(dir, "fill")
	f, err := os.Create(fill)
	require.NoError(t, err)
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	state := filepath.Join(t.TempDir(), "s.json")
	r := &Rotator{State: state, Rules: []Rule{{Path: path, Size: 1, Keep: 3, Compress: CompressionGzip, Create: &Create{UID: -1, GID: -1}}}}
	rep, err := r.Rotate(context.Background())
	require.Error(t, err, "the compression cannot fit")
	assert.NotContains(t, err.Error(), "compress "+path+".1: compress", "the path is named once")
	assert.FileExists(t, path+".1", "the backup stays plain")
	assert.Equal(t, 1, rep.Rotations())
	require.NoError(t, os.Remove(fill))

	r.Rules[0].Size = 1 << 30 // nothing due now
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err, rep.Lines())
	assert.Equal(t, 0, rep.Rotations())
	assert.NoFileExists(t, path+".1")
	assert.FileExists(t, path+".1.gz", "compressed on the next run")
	assert.Positive(t, rep.CompressedBytes())
	assert.True(t, strings.Contains(strings.Join(rep.Lines(), "\n"), "compress"))
}

// TestCompressionStopsOnCancel cancels a run in the middle of compressing
// a large backup: the run returns at once, the backup stays whole and
// plain, and no temporary file is left.
func TestCompressionStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app.log.2")
	noise := make([]byte, 64<<20)
	rand.Read(noise)
	require.NoError(t, os.WriteFile(src, noise, 0o644))
	// Cancelled once a few reads are done: deterministic, mid-file.
	ctx := &cancelAfter{Context: context.Background(), reads: 8}
	start := time.Now()
	_, _, err := compressFile(ctx, src, src+".gz", CompressionGzip, false)
	took := time.Since(start)
	require.ErrorIs(t, err, context.Canceled, "stopped before the end of the file, not after it")
	t.Logf("stopped after %s", took)
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	assert.Equal(t, noise, b, "the backup is untouched")
	ents, _ := os.ReadDir(dir)
	assert.Len(t, ents, 1, "no temporary file left")
}

// cancelAfter is a context whose Err turns Canceled after reads calls.
type cancelAfter struct {
	context.Context
	reads int
}

func (c *cancelAfter) Err() error {
	if c.reads--; c.reads < 0 {
		return context.Canceled
	}
	return nil
}
