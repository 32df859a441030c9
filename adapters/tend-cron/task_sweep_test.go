package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/cleanup"
)

func TestSweepTask(t *testing.T) {
	home := t.TempDir()
	cache := filepath.Join(home, ".cache", "torch")
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, n := range []string{"hub/old.pt", "hub/new.pt", "keep.lock"} {
		p := filepath.Join(cache, n)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("12345"), 0o644))
		if n != "hub/new.pt" {
			require.NoError(t, os.Chtimes(p, old, old))
		}
	}
	cfg, err := config.Parse("t.yaml", []byte(`
sweep:
  rules:
    - path: ~/.cache/torch
      older_than: 7d
      exclude: ["*.lock"]
    - path: ~/.cache/missing
      older_than: 7d
      missing_ok: true
`), config.Options{Home: home, Env: []string{}})
	require.NoError(t, err)

	tk, ok, err := newSweepTask(cfg, nil)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "sweep", tk.Name())
	assert.Equal(t, "@daily", tk.Schedule())

	res, err := tk.Run(context.Background(), true)
	require.NoError(t, err)
	plan := res.Report.(*cleanup.Report)
	assert.True(t, plan.DryRun)
	require.Len(t, plan.Items(), 1)
	assert.Equal(t, filepath.Join(cache, "hub/old.pt"), plan.Items()[0].Path)
	assert.Contains(t, strings.Join(res.Lines, "\n"), "would delete 1 entries")
	assert.Contains(t, strings.Join(res.Lines, "\n"), "missing, skipped")
	assert.Contains(t, res.Lines, "    file "+filepath.Join(cache, "hub/old.pt")+" (5B, age, used "+old.UTC().Format("2006-01-02")+")", "a dry run prints the plan")
	assert.FileExists(t, filepath.Join(cache, "hub/old.pt"))

	res, err = tk.Run(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, 5.0, res.Metrics["bytes_freed"])
	assert.Equal(t, 1.0, res.Metrics["files_deleted"])
	assert.Equal(t, 0.0, res.Metrics["errors"])
	assert.Contains(t, strings.Join(res.Lines, "\n"), "skipped: excluded=1")
	assert.NoFileExists(t, filepath.Join(cache, "hub/old.pt"))
	assert.FileExists(t, filepath.Join(cache, "hub/new.pt"))
	assert.FileExists(t, filepath.Join(cache, "keep.lock"))

	_, ok, err = newSweepTask(&config.Config{}, nil)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestSweepTaskReportsDangerousRoot(t *testing.T) {
	// A system directory is a config error now (cleanup.Rule.Validate);
	// the sweep still refuses one that reaches it.
	_, err := config.Parse("t.yaml", []byte("sweep:\n  rules:\n    - path: /usr\n      older_than: 7d\n"), config.Options{Env: []string{}})
	require.ErrorIs(t, err, cleanup.ErrDangerousRoot)
	cfg, err := config.Parse("t.yaml", []byte("sweep:\n  schedule: \"@hourly\"\n  rules:\n    - path: /tmp/x\n      older_than: 7d\n"), config.Options{Env: []string{}})
	require.NoError(t, err)
	cfg.Sweep.Rules[0].Path = "/usr"
	tk, ok, err := newSweepTask(cfg, nil)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "@hourly", tk.Schedule())
	res, err := tk.Run(context.Background(), true)
	require.ErrorIs(t, err, cleanup.ErrDangerousRoot)
	assert.Equal(t, 1.0, res.Metrics["errors"])
	assert.Contains(t, strings.Join(res.Lines, "\n"), "error: sweep /usr: ")
	assert.Contains(t, strings.Join(res.Lines, "\n"), "dangerous root: a system directory")
}
