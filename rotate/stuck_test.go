package rotate

import (
	"context"
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
)

// startStuckWriter starts a shell that appends a line to path every 10 ms
// through one descriptor it never reopens (no signal handling at all), as
// an application that was never told how to follow a rotation.
func startStuckWriter(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to run a writer with")
	}
	cmd := exec.Command(sh, "-c", `exec >>"$1"; i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.01; done`, "sh", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its sleeps share the descriptor
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	require.Eventually(t, func() bool { st, err := os.Stat(path); return err == nil && st.Size() > 0 }, 5*time.Second, 10*time.Millisecond)
	return cmd
}

// TestStuckWriterNoticed: a writer that keeps its descriptor on the
// renamed file (app.log stays empty, app.log.1 grows) is reported by the
// next run, with its pid and what to do, and counted; with the writer
// gone (or out of sight of /proc) an empty live log and a backup written
// after its rotation still give it away.
func TestStuckWriterNoticed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := startStuckWriter(t, path)
	clock := time.Now().Add(-5 * time.Minute)
	r := &Rotator{State: filepath.Join(dir, "state.json"), Now: func() time.Time { return clock },
		Rules: []Rule{{Path: path, Size: 1, Keep: 3, Create: &Create{UID: -1, GID: -1}}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Rotations())
	assert.Zero(t, rep.StuckWriters(), "a rotation just done is not stuck")

	// The writer keeps appending to app.log.1; app.log stays empty.
	st1, err := os.Stat(path + ".1")
	require.NoError(t, err)
	require.Eventually(t, func() bool { st, _ := os.Stat(path + ".1"); return st.Size() > st1.Size() }, 5*time.Second, 10*time.Millisecond)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Zero(t, st.Size())

	clock = time.Now()
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, rep.StuckWriters(), "%v", rep.Lines())
	msg := rep.Files[0].StuckWriter
	assert.Contains(t, msg, "pid "+strconv.Itoa(w.Process.Pid))
	assert.Contains(t, msg, "app.log.1")
	assert.Contains(t, msg, "set signal")
	assert.Contains(t, strings.Join(rep.Lines(), "\n"), "warning: pid ")

	// The writer gone from /proc's view: the empty live log and the backup
	// written after its rotation say the same.
	require.NoError(t, syscall.Kill(-w.Process.Pid, syscall.SIGKILL))
	w.Wait()
	time.Sleep(50 * time.Millisecond) // the killed processes finish exiting (closing their descriptors)
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, rep.StuckWriters(), "%v", rep.Lines())
	assert.Contains(t, rep.Files[0].StuckWriter, "the live log is empty")

	// Once the live log is written to again, nothing is reported.
	require.NoError(t, os.WriteFile(path, []byte("reopened\n"), 0o644))
	r.Rules[0].Size = 1 << 20
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err)
	assert.Zero(t, rep.StuckWriters(), "%v", rep.Lines())
}
