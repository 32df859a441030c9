package main

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tendkit/tend/internal/atomicfile"
)

// metrics accumulates the runs of this process and writes them in
// node_exporter's textfile collector format. Every number a task reports in
// taskResult.Metrics is a counter, tend_<name>_total{task="..."}, summed
// over the runs since tend-cron started (Prometheus handles the reset when
// it restarts). Per task it adds tend_task_runs_total,
// tend_task_failures_total, tend_task_errors (errors in the last run),
// tend_task_not_permitted (paths the last run had no permission for),
// tend_last_run_timestamp_seconds, tend_last_run_duration_seconds and
// tend_last_success_timestamp_seconds.
type metrics struct {
	path string

	mu       sync.Mutex
	counters map[string]map[string]float64 // metric name → task → value
	tasks    map[string]*taskMetrics
}

type taskMetrics struct {
	runs, failures float64
	lastErrors     int
	lastDenied     int
	lastRun        time.Time
	lastDuration   float64
	lastSuccess    time.Time
}

func newMetrics(path string) *metrics {
	return &metrics{path: path, counters: map[string]map[string]float64{}, tasks: map[string]*taskMetrics{}}
}

// add counts one run; dry runs change nothing and are not counted.
func (m *metrics) add(r runRecord, end time.Time) {
	if r.DryRun {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tm := m.tasks[r.Task]
	if tm == nil {
		tm = &taskMetrics{}
		m.tasks[r.Task] = tm
	}
	tm.runs++
	tm.lastRun, tm.lastDuration, tm.lastErrors, tm.lastDenied = r.Started, r.Duration, len(r.Errors), len(r.Denied)
	if r.OK {
		tm.lastSuccess = end
	} else {
		tm.failures++
	}
	for k, v := range r.Metrics {
		n := counterName(k)
		if m.counters[n] == nil {
			m.counters[n] = map[string]float64{}
		}
		m.counters[n][r.Task] += v
	}
}

// counterHelp describes the counters the tasks are known to report.
var counterHelp = map[string]string{
	"tend_bytes_freed_total":      "Bytes freed by deleting files or images.",
	"tend_files_deleted_total":    "Files and directories deleted by sweeps.",
	"tend_rotations_total":        "Log files rotated.",
	"tend_images_removed_total":   "Docker images removed.",
	"tend_errors_total":           "Items a task could not handle (a path it could not touch, an image in use).",
	"tend_bytes_compressed_total": "Bytes of rotated logs compressed.",
}

// counterName turns a task's metric key into a valid counter name.
func counterName(key string) string {
	var b strings.Builder
	b.WriteString("tend_")
	for _, r := range key { // after "tend_", digits may lead
		ok := r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok {
			r = '_'
		}
		b.WriteRune(r)
	}
	if !strings.HasSuffix(key, "_total") {
		b.WriteString("_total")
	}
	return b.String()
}

// render returns the textfile, sorted so that equal state gives equal bytes.
func (m *metrics) render() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b bytes.Buffer
	family := func(name, typ, help string, values map[string]float64) {
		if len(values) == 0 {
			return
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, task := range slices.Sorted(maps.Keys(values)) {
			fmt.Fprintf(&b, "%s{task=%q} %s\n", name, task, strconv.FormatFloat(values[task], 'g', -1, 64))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(m.counters)) {
		help, ok := counterHelp[n]
		if !ok {
			help = "Counter " + strings.TrimSuffix(strings.TrimPrefix(n, "tend_"), "_total") + " reported by the task."
		}
		family(n, "counter", help, m.counters[n])
	}
	per := func(f func(*taskMetrics) (float64, bool)) map[string]float64 {
		out := map[string]float64{}
		for task, tm := range m.tasks {
			if v, ok := f(tm); ok {
				out[task] = v
			}
		}
		return out
	}
	family("tend_task_runs_total", "counter", "Runs of the task since tend-cron started.",
		per(func(t *taskMetrics) (float64, bool) { return t.runs, true }))
	family("tend_task_failures_total", "counter", "Runs of the task that ended with an error.",
		per(func(t *taskMetrics) (float64, bool) { return t.failures, true }))
	family("tend_task_errors", "gauge", "Errors in the task's last run (0 when it succeeded).",
		per(func(t *taskMetrics) (float64, bool) { return float64(t.lastErrors), true }))
	family("tend_task_not_permitted", "gauge", "Paths the task's last run had no permission to touch (reported, not failures).",
		per(func(t *taskMetrics) (float64, bool) { return float64(t.lastDenied), true }))
	family("tend_last_run_timestamp_seconds", "gauge", "Unix time the task's last run started.",
		per(func(t *taskMetrics) (float64, bool) { return unixSeconds(t.lastRun), true }))
	family("tend_last_run_duration_seconds", "gauge", "How long the task's last run took.",
		per(func(t *taskMetrics) (float64, bool) { return t.lastDuration, true }))
	family("tend_last_success_timestamp_seconds", "gauge", "Unix time the task last finished without an error.",
		per(func(t *taskMetrics) (float64, bool) { return unixSeconds(t.lastSuccess), !t.lastSuccess.IsZero() }))
	return b.Bytes()
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// write replaces the metrics file atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory. node_exporter never
// reads a half-written file.
func (m *metrics) write() error {
	if m.path == "" {
		return nil
	}
	if err := atomicfile.WriteFile(m.path, m.render(), 0o644); err != nil {
		return fmt.Errorf("write metrics %s: %w", m.path, err)
	}
	return nil
}
