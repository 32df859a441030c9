package rotate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPostRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	out := filepath.Join(dir, "hook.out")
	require.NoError(t, os.WriteFile(path, []byte("a line\n"), 0o644))
	r := &Rotator{State: filepath.Join(dir, "s.json"), Rules: []Rule{{Path: path, Size: 1, Keep: 2,
		PostRotate: &Command{Argv: []string{"sh", "-c", `echo "$TEND_LOG $TEND_BACKUP" > ` + out}}}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err, rep.Lines())
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, path+" "+path+".1\n", string(b))
	assert.Contains(t, strings.Join(rep.Lines(), "\n"), "postrotate "+path+" (sh exited 0")
}

// TestPostRotateTimeoutKillsTheGroup runs a hook whose shell starts a
// long sleep: at the timeout the whole process group is killed (the sleep
// too, or the run would wait for its output pipe), and the step fails.
func TestPostRotateTimeoutKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	require.NoError(t, os.WriteFile(path, []byte("a line\n"), 0o644))
	r := &Rotator{State: filepath.Join(dir, "s.json"), Rules: []Rule{{Path: path, Size: 1, Keep: 2,
		PostRotate: &Command{Argv: []string{"sh", "-c", "sleep 30; echo done"}, Timeout: 200 * time.Millisecond}}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := r.Rotate(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "killed after its timeout 200ms")
	assert.NoError(t, ctx.Err(), "the run did not wait for the orphaned sleep")
	assert.Equal(t, 1, rep.Rotations(), "the rotation itself happened")
	assert.FileExists(t, path+".1")
}
