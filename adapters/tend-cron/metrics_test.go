package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCounterName(t *testing.T) {
	for key, want := range map[string]string{
		"bytes_freed":    "tend_bytes_freed_total",
		"rotations":      "tend_rotations_total",
		"errors_total":   "tend_errors_total",
		"images-removed": "tend_images_removed_total",
		"9lives":         "tend_9lives_total",
	} {
		assert.Equal(t, want, counterName(key), key)
	}
}

// Counters add up over runs; dry runs are not counted; the file is
// replaced whole, leaving no temporary file behind.
func TestMetricsAccumulateAndWriteAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tend.prom")
	m := newMetrics(path)
	t0 := time.Unix(1700000000, 0)
	m.add(runRecord{Task: "sweep", OK: true, Started: t0, Duration: 0.5, Metrics: map[string]float64{"files_deleted": 3}}, t0)
	m.add(runRecord{Task: "sweep", OK: true, Started: t0, DryRun: true, Metrics: map[string]float64{"files_deleted": 100}}, t0)
	m.add(runRecord{Task: "sweep", Started: t0.Add(time.Hour), Errors: []string{"a", "b"}, Metrics: map[string]float64{"files_deleted": 4}}, t0.Add(time.Hour))
	require.NoError(t, m.write())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `# HELP tend_files_deleted_total Files and directories deleted by sweeps.
# TYPE tend_files_deleted_total counter
tend_files_deleted_total{task="sweep"} 7
# HELP tend_task_runs_total Runs of the task since tend-cron started.
# TYPE tend_task_runs_total counter
tend_task_runs_total{task="sweep"} 2
# HELP tend_task_failures_total Runs of the task that ended with an error.
# TYPE tend_task_failures_total counter
tend_task_failures_total{task="sweep"} 1
# HELP tend_task_errors Errors in the task's last run (0 when it succeeded).
# TYPE tend_task_errors gauge
tend_task_errors{task="sweep"} 2
# HELP tend_last_run_timestamp_seconds Unix time the task's last run started.
# TYPE tend_last_run_timestamp_seconds gauge
tend_last_run_timestamp_seconds{task="sweep"} 1.7000036e+09
# HELP tend_last_run_duration_seconds How long the task's last run took.
# TYPE tend_last_run_duration_seconds gauge
tend_last_run_duration_seconds{task="sweep"} 0
# HELP tend_last_success_timestamp_seconds Unix time the task last finished without an error.
# TYPE tend_last_success_timestamp_seconds gauge
tend_last_success_timestamp_seconds{task="sweep"} 1.7e+09
`, string(data))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	// A directory that cannot be written is an error naming the file.
	bad := newMetrics(filepath.Join(dir, "missing", "tend.prom"))
	assert.ErrorContains(t, bad.write(), "write metrics "+filepath.Join(dir, "missing", "tend.prom"))
}
