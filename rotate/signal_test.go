package rotate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// TestRenameSignalsAShellWriter rotates the log of a real /bin/sh process
// that writes numbered lines and reopens its log on the configured signal,
// as daemons do: after each rotation the writer has moved to the new file,
// the backup stops growing, and every line is in exactly one file.
func TestRenameSignalsAShellWriter(t *testing.T) {
	sh := testenv.LookPath(t, "sh", "dash")
	dir := t.TempDir()
	path := filepath.Join(dir, "daemon.log")
	pidfile := filepath.Join(dir, "daemon.pid")
	script := `exec 3>>"$LOG"; echo $$ >"$PIDFILE"
trap 'exec 3>>"$LOG"' USR1
trap 'echo $i; exit 0' TERM
i=0
while :; do i=$((i+1)); echo "line $i" >&3; sleep 0.005; done`
	cmd := exec.Command(sh, "-c", script)
	cmd.Env = append(os.Environ(), "LOG="+path, "PIDFILE="+pidfile)
	var out strings.Builder
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "the writer's first lines", func() bool { st, err := os.Stat(path); return err == nil && st.Size() > 0 })

	r := &Rotator{State: filepath.Join(dir, "state.json"), Rules: []Rule{{
		Path: path, Keep: 5, Create: &Create{Mode: 0o600, UID: -1, GID: -1},
		Signal: &Signal{Pidfile: pidfile, Signal: mustSignal(t, "USR1")},
	}}}
	for i := 1; i <= 3; i++ {
		rep, err := r.Rotate(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, rep.Rotations())
		acts := rep.Files[0].Actions
		sig := acts[len(acts)-1]
		assert.Equal(t, OpSignal, sig.Op)
		assert.Equal(t, "SIGUSR1 sent to pid "+strconv.Itoa(cmd.Process.Pid), sig.Detail)
		// The writer reopens: the new file grows, the backup stops.
		waitFor(t, "lines in the new file", func() bool { st, err := os.Stat(path); return err == nil && st.Size() > 0 })
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "create.mode")
		before, err := os.Stat(path + ".1")
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
		after, err := os.Stat(path + ".1")
		require.NoError(t, err)
		assert.Equal(t, before.Size(), after.Size(), "rotation %d: the backup no longer grows", i)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	last, err := strconv.Atoi(strings.TrimSpace(out.String()))
	require.NoError(t, err, "the writer's last line number: %q", out.String())
	assertEveryLineOnce(t, path, last)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustSignal(t *testing.T, name string) os.Signal {
	t.Helper()
	s, err := ParseSignal(name)
	require.NoError(t, err)
	return s
}

// TestCompressionWaitsForTheWriter rotates (rename, gzip) the log of a
// writer that is never told to reopen: the backup it still writes to is
// left plain, with the deferral reported, and compressed by the first run
// after the writer let go of it; no line is lost.
func TestCompressionWaitsForTheWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	_, stop := startWriter(t, path, true, "HELPER_RATE=1")
	waitFor(t, "the writer's first lines", func() bool { st, err := os.Stat(path); return err == nil && st.Size() > 0 })
	r := &Rotator{State: filepath.Join(dir, "state.json"), compressWait: 100 * time.Millisecond,
		Rules: []Rule{{Path: path, Keep: 5, Compress: CompressionGzip, MissingOK: true, Create: &Create{UID: -1, GID: -1}}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Rotations())
	acts := rep.Files[0].Actions
	comp := acts[len(acts)-1]
	assert.Equal(t, OpCompress, comp.Op)
	assert.Contains(t, comp.Detail, "deferred: still open for writing by pid")
	assert.Zero(t, rep.BytesCompressed())
	assert.FileExists(t, path+".1")
	assert.NoFileExists(t, path+".1.gz")

	last := stop()
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf("line %d\n", last+1)), 0o644))
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err)
	assert.Positive(t, rep.BytesCompressed(), "the old backup is compressed once the writer is gone")
	assert.FileExists(t, path+".2.gz")
	assertEveryLineOnce(t, path, last+1)
}
