package rotate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestHostileNamesInGlob rotates logs whose names hold a newline and
// bytes that are not UTF-8, matched by a glob, with a state file: each is
// rotated once, and the state remembers each under its own name (an
// every: rule does not rotate them again on the next run).
func TestHostileNamesInGlob(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a\nb.log", "\xff\xfe.log", "plain.log", "sp ace.log"}
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("line\n"), 0o644))
	}
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.Local)
	r := &Rotator{State: filepath.Join(dir, "state", "s.json"), Now: func() time.Time { return now }, Force: true,
		Rules: []Rule{{Path: filepath.Join(dir, "*.log"), Every: 24 * time.Hour, Keep: 2, Create: &Create{UID: -1, GID: -1}}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err, "%v", rep.Lines())
	assert.Equal(t, len(names), rep.Rotations())
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n+".1"))
		require.NoError(t, err, "%q rotated", n)
		assert.Equal(t, "line\n", string(b))
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("more\n"), 0o644))
	}
	r.Force = false
	now = now.Add(time.Hour)
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err, "%v", rep.Lines())
	assert.Zero(t, rep.Rotations(), "each log's rotation is remembered under its own name: %v", rep.Lines())
	now = now.Add(24 * time.Hour)
	rep, err = r.Rotate(context.Background())
	require.NoError(t, err, "%v", rep.Lines())
	assert.Equal(t, len(names), rep.Rotations(), "%v", rep.Lines())
}

// TestJournalKeepsHostileNames: the intents of logs whose names are not
// UTF-8 (or look like an encoded name) come back from the journal byte for
// byte, so the next run finishes the rotation of the right file.
func TestJournalKeepsHostileNames(t *testing.T) {
	dir := t.TempDir()
	j := &journal{path: filepath.Join(dir, "s.json.journal")}
	want := []intent{
		{Path: dir + "/\xff\xfe.log", Backup: dir + "/\xff\xfe.log.1", Pidfile: dir + "/\xc3.pid", Method: MethodRename},
		{Path: dir + "/a\nb.log", Backup: dir + "/a\nb.log.1", Method: MethodRename},
		{Path: pathB64 + "ZmFrZQ==", Backup: "x", Method: MethodRename},
	}
	require.NoError(t, j.record(want))
	j.close()
	got := readJournal(j.path, slog.New(slog.DiscardHandler))
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, []byte(want[i].Path), []byte(got[i].Path))
		assert.Equal(t, []byte(want[i].Backup), []byte(got[i].Backup))
		assert.Equal(t, []byte(want[i].Pidfile), []byte(got[i].Pidfile))
	}
}

// TestManyLogsUnderALowOpenFileLimit: 600 logs in one glob under a limit
// of 128 open files are all rotated (planned in batches that fit), not
// failed with EMFILE past the limit.
func TestManyLogsUnderALowOpenFileLimit(t *testing.T) {
	dir := t.TempDir()
	const n = 600
	for i := range n {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("app%03d.log", i)), []byte("line\n"), 0o644))
	}
	var old unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	low := old
	low.Cur = 128
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &low))
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
	r := &Rotator{State: filepath.Join(dir, "state.json"), Rules: []Rule{{Path: filepath.Join(dir, "*.log"), Size: 1, Keep: 1, Compress: CompressionGzip}}}
	rep, err := r.Rotate(context.Background())
	require.NoError(t, err, "%v", rep.Lines()[:min(5, len(rep.Lines()))])
	assert.Equal(t, n, rep.Rotations())
	gz, err := filepath.Glob(filepath.Join(dir, "*.log.1.gz"))
	require.NoError(t, err)
	assert.Len(t, gz, n)
}
