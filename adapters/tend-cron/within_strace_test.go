package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// TestBinaryWithinStatsDirectoriesOnly counts, with strace, the stat calls
// on the home of a dry run of the default's .ipynb_checkpoints rule over a
// home of 20,000 other files: one per directory plus one per file inside
// the checkpoints, never one per file of the home. (strace -y names each
// descriptor's path, so the calls elsewhere, such as the scan of /proc for
// files held open, which varies with the machine, are told apart.)
func TestBinaryWithinStatsDirectoriesOnly(t *testing.T) {
	testenv.Short(t)
	strace := testenv.LookPath(t, "strace", "strace")
	bin := tendCron(t)
	home := t.TempDir()
	const dirs, perDir = 200, 100
	for i := range dirs {
		d := filepath.Join(home, fmt.Sprintf("proj%03d", i), "data")
		require.NoError(t, os.MkdirAll(d, 0o755))
		for j := range perDir {
			require.NoError(t, os.WriteFile(filepath.Join(d, fmt.Sprintf("f%03d", j)), nil, 0o644))
		}
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	inside := 0
	for _, p := range []string{"proj001", "proj100/data"} {
		cp := filepath.Join(home, p, ".ipynb_checkpoints")
		require.NoError(t, os.MkdirAll(cp, 0o755))
		for j := range 4 {
			f := filepath.Join(cp, fmt.Sprintf("nb%d-checkpoint.ipynb", j))
			require.NoError(t, os.WriteFile(f, []byte("{}"), 0o644))
			require.NoError(t, os.Chtimes(f, old, old))
			inside++
		}
	}
	allDirs := 1 + 2*dirs + 2
	cfg := filepath.Join(t.TempDir(), "tend.yaml")
	writeConfig(t, cfg, "sweep:\n  rules:\n    - path: \"~\"\n      within: [.ipynb_checkpoints]\n      older_than: 7d\n      age: mtime\n")
	out := filepath.Join(t.TempDir(), "strace.txt")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, strace, "-f", "-y", "-e", "trace=stat,lstat,fstat,newfstatat,statx", "-o", out, bin, "--config", cfg, "--once", "--only", "sweep", "--dry-run")
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(stdout), "ptrace") {
		testenv.Missing(t, "strace cannot trace here (%s): %v", strings.TrimSpace(string(stdout)), err)
	}
	require.NoError(t, err, "%s", stdout)
	assert.Contains(t, string(stdout), "would delete 8 entries")
	trace, err := os.ReadFile(out)
	require.NoError(t, err)
	stats, all := 0, 0
	for _, l := range strings.Split(string(trace), "\n") {
		if l == "" || strings.Contains(l, "resumed>") || strings.HasPrefix(strings.TrimLeft(l, "0123456789 "), "+++") {
			continue // the second half of a call (the first has its arguments); an exit
		}
		all++
		if strings.Contains(l, home) {
			stats++
		}
	}
	t.Logf("%d stat calls on the home (%d in all) for %d directories, %d files inside the checkpoints, %d outside", stats, all, allDirs, inside, dirs*perDir)
	// The root is described twice by path (lstat, then resolved) and once
	// by its descriptor; the config file once or twice.
	assert.GreaterOrEqual(t, stats, allDirs+inside, "each directory and each file inside is described")
	assert.LessOrEqual(t, stats, allDirs+inside+4, "no stat per file outside the checkpoints")
}
