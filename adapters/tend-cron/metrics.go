package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/internal/atomicfile"
)

// metrics holds the Prometheus registry of this process: what each task
// and job did since tend-cron started. The same registry is served on
// --metrics-addr (/metrics) and written to --metrics-file (node_exporter's
// textfile format), so both always say the same.
//
// Every number a task reports in taskResult.Metrics is a counter,
// tend_<what>_<unit>_total{task="..."} (see counterFor). Per task it adds
// tend_task_runs_total, tend_task_failures_total,
// tend_task_skipped_runs_total{reason}, tend_task_errors (errors in the
// last run), tend_task_not_permitted, tend_last_run_timestamp_seconds,
// tend_last_run_duration_seconds and tend_last_success_timestamp_seconds;
// per job tend_job_runs_total, tend_job_failures_total,
// tend_job_timeouts_total, tend_job_skipped_runs_total{reason},
// tend_job_last_exit_code, tend_job_last_duration_seconds,
// tend_job_last_run_timestamp_seconds and
// tend_job_last_success_timestamp_seconds. The sweep adds, per root of its
// last run, tend_sweep_root_bytes{root} and
// tend_sweep_root_planned_bytes{root}.
type metrics struct {
	path string
	reg  *prometheus.Registry

	mu       sync.Mutex
	counters map[string]*prometheus.CounterVec // by metric name

	taskRuns, taskFailures, taskSkipped                     *prometheus.CounterVec
	taskErrors, taskDenied, lastRun, lastDuration, lastGood *prometheus.GaugeVec

	jobRuns, jobFailures, jobTimeouts, jobSkipped *prometheus.CounterVec
	jobExit, jobDuration, jobLastRun, jobLastGood *prometheus.GaugeVec

	rootBytes, rootPlanned *prometheus.GaugeVec
}

func newMetrics(path string) *metrics {
	m := &metrics{path: path, reg: prometheus.NewRegistry(), counters: map[string]*prometheus.CounterVec{}}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.taskRuns = counter("tend_task_runs_total", "Runs of the task since tend-cron started.", "task")
	m.taskFailures = counter("tend_task_failures_total", "Runs of the task that ended with an error.", "task")
	m.taskSkipped = counter("tend_task_skipped_runs_total", "Scheduled runs of the task that did not happen, by reason (busy: the previous run was still going; late: the time passed while tend-cron waited).", "task", "reason")
	m.taskErrors = gauge("tend_task_errors", "Errors in the task's last run (0 when it succeeded).", "task")
	m.taskDenied = gauge("tend_task_not_permitted", "Paths the task's last run had no permission to touch (reported, not failures).", "task")
	m.lastRun = gauge("tend_last_run_timestamp_seconds", "Unix time the task's last run started.", "task")
	m.lastDuration = gauge("tend_last_run_duration_seconds", "How long the task's last run took.", "task")
	m.lastGood = gauge("tend_last_success_timestamp_seconds", "Unix time the task last finished without an error.", "task")
	m.jobRuns = counter("tend_job_runs_total", "Runs of the job since tend-cron started.", "job")
	m.jobFailures = counter("tend_job_failures_total", "Runs of the job that failed: a non-zero exit status, a timeout, a command that could not start, or a run stopped from outside.", "job")
	m.jobTimeouts = counter("tend_job_timeouts_total", "Runs of the job killed because they outlasted the job's timeout.", "job")
	m.jobSkipped = counter("tend_job_skipped_runs_total", "Scheduled runs of the job that did not happen, by reason (busy: the previous run was still going and overlap is skip; queued: one run already waited; late: the time passed while tend-cron waited).", "job", "reason")
	m.jobExit = gauge("tend_job_last_exit_code", "Exit status of the job's last run as a shell reports it (128+N: killed by signal N; 126/127: could not start).", "job")
	m.jobDuration = gauge("tend_job_last_duration_seconds", "How long the job's last run took.", "job")
	m.jobLastRun = gauge("tend_job_last_run_timestamp_seconds", "Unix time the job's last run started.", "job")
	m.jobLastGood = gauge("tend_job_last_success_timestamp_seconds", "Unix time the job last exited with status 0.", "job")
	m.rootBytes = gauge("tend_sweep_root_bytes", "Bytes on disk the regular files under the sweep root held when the last sweep scanned it, each file once (a rule with within: inside its directories only).", "root")
	m.rootPlanned = gauge("tend_sweep_root_planned_bytes", "Bytes the last sweep planned to free under the root (what it deleted: file sizes).", "root")
	return m
}

// counterDef is a task-reported counter's metric name and help.
type counterDef struct{ name, help string }

// knownCounters maps the keys tasks report in taskResult.Metrics to their
// metric: the unit last (tend_freed_bytes_total), the help true for every
// task that reports it. Older keys that put the unit first are accepted.
var knownCounters = map[string]counterDef{
	"freed_bytes":      {"tend_freed_bytes_total", "Bytes freed: files deleted by sweep, old backups deleted by rotate, images removed by images."},
	"files_deleted":    {"tend_files_deleted_total", "Files deleted: cache files and directories for sweep, old log backups for rotate."},
	"rotations":        {"tend_rotations_total", "Log files rotated."},
	"images_removed":   {"tend_images_removed_total", "Docker images removed."},
	"errors":           {"tend_errors_total", "Items a task could not handle (a path it could not touch, a log it could not rotate, an image in use)."},
	"compressed_bytes": {"tend_compressed_bytes_total", "Bytes of rotated logs compressed (their size before compression)."},
	"stuck_writers":    {"tend_stuck_writers_total", "Logs a rotate run found with their writer still writing to the rotated file (it never reopened the live log; the run's warning says what to do), counted at every run until fixed."},
	"rules_left_out":   {"tend_rules_left_out_total", "Sweep rules left out of a run because this environment cannot locate them (HOME unset, empty or /)."},
}

// counterFor returns the metric of a task's key. Unknown keys become
// tend_<key>_total, with a "bytes_" prefix moved to the end.
func counterFor(key string) counterDef {
	k := strings.TrimSuffix(key, "_total")
	if rest, ok := strings.CutPrefix(k, "bytes_"); ok {
		k = rest + "_bytes"
	}
	if d, ok := knownCounters[k]; ok {
		return d
	}
	var b strings.Builder
	b.WriteString("tend_")
	for _, r := range k { // after "tend_", digits may lead
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok {
			r = '_'
		}
		b.WriteRune(r)
	}
	b.WriteString("_total")
	return counterDef{b.String(), "Counter " + key + " reported by the task."}
}

// counter returns the registered counter of a task's key.
func (m *metrics) counter(key string) *prometheus.CounterVec {
	d := counterFor(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.counters[d.name]; ok {
		return v
	}
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.name, Help: d.help}, []string{"task"})
	if err := m.reg.Register(v); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			v = are.ExistingCollector.(*prometheus.CounterVec)
		} else {
			// A name clashing with one of ours: keep it out of the registry.
			v = prometheus.NewCounterVec(prometheus.CounterOpts{Name: d.name, Help: d.help}, []string{"task"})
		}
	}
	m.counters[d.name] = v
	return v
}

// add counts one run; dry runs change nothing and are not counted.
func (m *metrics) add(r runRecord, end time.Time) {
	if r.DryRun {
		return
	}
	if jr, ok := r.Report.(jobReport); ok || r.Job {
		if !ok {
			jr.ExitCode = -1 // the run failed before the command ran (a panic)
		}
		m.addJob(r, jr, end)
		return
	}
	t := r.Task
	m.taskRuns.WithLabelValues(t).Inc()
	m.lastRun.WithLabelValues(t).Set(unixSeconds(r.Started))
	m.lastDuration.WithLabelValues(t).Set(r.Duration)
	m.taskErrors.WithLabelValues(t).Set(float64(len(r.Errors)))
	m.taskDenied.WithLabelValues(t).Set(float64(len(r.Denied)))
	if r.OK {
		m.lastGood.WithLabelValues(t).Set(unixSeconds(end))
	} else {
		m.taskFailures.WithLabelValues(t).Inc()
	}
	for k, v := range r.Metrics {
		if v >= 0 {
			m.counter(k).WithLabelValues(t).Add(v)
		}
	}
	if rep := cleanupReport(r.Report); rep != nil {
		m.setRoots(rep)
	}
}

// setRoots replaces the per-root gauges with the sweep's last run: a root
// no longer swept (a reloaded config) drops out.
func (m *metrics) setRoots(rep *cleanup.Report) {
	m.rootBytes.Reset()
	m.rootPlanned.Reset()
	for _, r := range rep.Roots {
		if r.Missing {
			continue
		}
		m.rootBytes.WithLabelValues(r.Root).Set(float64(r.HeldBytes))
		m.rootPlanned.WithLabelValues(r.Root).Set(float64(r.Bytes))
	}
}

func (m *metrics) addJob(r runRecord, jr jobReport, end time.Time) {
	j := r.Task
	m.jobRuns.WithLabelValues(j).Inc()
	m.jobLastRun.WithLabelValues(j).Set(unixSeconds(r.Started))
	m.jobDuration.WithLabelValues(j).Set(r.Duration)
	m.jobExit.WithLabelValues(j).Set(float64(jr.ExitCode))
	if jr.TimedOut {
		m.jobTimeouts.WithLabelValues(j).Inc()
	}
	if r.OK {
		m.jobLastGood.WithLabelValues(j).Set(unixSeconds(end))
	} else {
		m.jobFailures.WithLabelValues(j).Inc()
	}
}

// skipped counts a scheduled run that did not happen.
func (m *metrics) skipped(s skip) {
	reason := map[string]string{skipBusy: "busy", skipQueued: "queued", skipLate: "late"}[s.Reason]
	if reason == "" {
		reason = "other"
	}
	if s.IsJob {
		m.jobSkipped.WithLabelValues(s.Name, reason).Inc()
	} else {
		m.taskSkipped.WithLabelValues(s.Name, reason).Inc()
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// render returns the registry in the text exposition format, as
// node_exporter's textfile collector reads it.
func (m *metrics) render() ([]byte, error) {
	mfs, err := m.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encode metric %s: %w", mf.GetName(), err)
		}
	}
	return b.Bytes(), nil
}

// write replaces the metrics file atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory. node_exporter never
// reads a half-written file.
func (m *metrics) write() error {
	if m.path == "" {
		return nil
	}
	data, err := m.render()
	if err == nil {
		err = atomicfile.WriteFile(m.path, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write metrics %s: %w", m.path, err)
	}
	return nil
}

// serve serves /metrics on ln until ctx ends.
func (m *metrics) serve(ctx context.Context, ln net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{log}, Timeout: 10 * time.Second}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if srv.Shutdown(shut) != nil {
		srv.Close()
	}
	<-done
}

// slogPrinter lets promhttp log its errors through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics: " + fmt.Sprint(v...)) }
