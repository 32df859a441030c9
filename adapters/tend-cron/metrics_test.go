package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCounterNamesPutTheUnitLast(t *testing.T) {
	for key, want := range map[string]string{
		"bytes_freed":      "tend_freed_bytes_total",
		"freed_bytes":      "tend_freed_bytes_total",
		"bytes_compressed": "tend_compressed_bytes_total",
		"compressed_bytes": "tend_compressed_bytes_total",
		"rotations":        "tend_rotations_total",
		"errors_total":     "tend_errors_total",
		"images-removed":   "tend_images_removed_total",
		"bytes_read":       "tend_read_bytes_total",
		"9lives":           "tend_9lives_total",
	} {
		assert.Equal(t, want, counterFor(key).name, key)
	}
	// Every help text is true for every task that reports the counter.
	for key, d := range knownCounters {
		assert.NotContains(t, d.help, "by sweeps", key)
	}
}

// Counters add up over runs; dry runs are not counted; the file is
// replaced whole, leaving no temporary file behind; the same registry is
// what /metrics serves.
func TestMetricsAccumulateAndWriteAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tend.prom")
	m := newMetrics(path)
	t0 := time.Unix(1700000000, 0)
	m.add(runRecord{Task: "sweep", OK: true, Started: t0, Duration: 0.5, Metrics: map[string]float64{"files_deleted": 3, "bytes_freed": 10}}, t0)
	m.add(runRecord{Task: "sweep", OK: true, Started: t0, DryRun: true, Metrics: map[string]float64{"files_deleted": 100}}, t0)
	m.add(runRecord{Task: "sweep", Started: t0.Add(time.Hour), Errors: []string{"a", "b"}, Denied: []string{"c"}, Metrics: map[string]float64{"files_deleted": 4}}, t0.Add(time.Hour))
	m.add(runRecord{Task: "rotate", OK: true, Started: t0, Metrics: map[string]float64{"files_deleted": 2, "bytes_compressed": 1 << 20}}, t0)
	m.add(runRecord{Task: "backup", Job: true, Started: t0, Duration: 2, Report: jobReport{ExitCode: 3}}, t0.Add(2*time.Second))
	m.add(runRecord{Task: "backup", Job: true, OK: true, Started: t0.Add(time.Minute), Duration: 1, Report: jobReport{ExitCode: 0}}, t0.Add(61*time.Second))
	m.add(runRecord{Task: "backup", Job: true, Started: t0.Add(2 * time.Minute), Duration: 5, Report: jobReport{ExitCode: 143, TimedOut: true}}, t0.Add(125*time.Second))
	m.skipped(skip{Name: "backup", IsJob: true, Reason: skipBusy})
	m.skipped(skip{Name: "sweep", Reason: skipLate})
	require.NoError(t, m.write())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	series := parseTextfile(t, data)
	for k, v := range map[string]float64{
		`tend_files_deleted_total{task="sweep"}`:                   7,
		`tend_files_deleted_total{task="rotate"}`:                  2,
		`tend_freed_bytes_total{task="sweep"}`:                     10,
		`tend_compressed_bytes_total{task="rotate"}`:               1 << 20,
		`tend_task_runs_total{task="sweep"}`:                       2,
		`tend_task_failures_total{task="sweep"}`:                   1,
		`tend_task_errors{task="sweep"}`:                           2,
		`tend_task_not_permitted{task="sweep"}`:                    1,
		`tend_last_run_timestamp_seconds{task="sweep"}`:            1700003600,
		`tend_last_success_timestamp_seconds{task="sweep"}`:        1700000000,
		`tend_task_skipped_runs_total{reason="late",task="sweep"}`: 1,
		`tend_job_runs_total{job="backup"}`:                        3,
		`tend_job_failures_total{job="backup"}`:                    2,
		`tend_job_timeouts_total{job="backup"}`:                    1,
		`tend_job_last_exit_code{job="backup"}`:                    143,
		`tend_job_last_duration_seconds{job="backup"}`:             5,
		`tend_job_last_success_timestamp_seconds{job="backup"}`:    1700000061,
		`tend_job_skipped_runs_total{job="backup",reason="busy"}`:  1,
	} {
		assert.Equal(t, v, series[k], k)
	}
	assert.NotContains(t, series, `tend_task_runs_total{task="backup"}`, "jobs are counted as jobs")
	assert.Contains(t, string(data), "# HELP tend_files_deleted_total Files deleted: cache files and directories for sweep, old log backups for rotate.\n")
	assert.NotContains(t, string(data), "tend_bytes_", "the unit comes last")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	// The HTTP endpoint serves the same registry.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { m.serve(ctx, ln, slog.New(slog.DiscardHandler)); close(served) }()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, series, parseTextfile(t, body), "the file and /metrics say the same")
	cancel()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("the metrics server did not stop")
	}

	// A directory that cannot be written is an error naming the file.
	bad := newMetrics(filepath.Join(dir, "missing", "tend.prom"))
	assert.ErrorContains(t, bad.write(), "write metrics "+filepath.Join(dir, "missing", "tend.prom"))
}

// The Prometheus text exposition format, as node_exporter's textfile
// collector reads it.
var (
	promHelp   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$`)
	promType   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
	promSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*,?)?\})? (\S+)( -?\d+)?$`)
)

// parseTextfile checks data against the text format (see promText) and
// returns each series with its value.
func parseTextfile(t *testing.T, data []byte) map[string]float64 {
	t.Helper()
	series, err := promText(data)
	require.NoError(t, err, "%s", data)
	return series
}

// promText reads data line by line as the text format and returns each
// series ("name{labels}") with its value. It fails on any line the format
// does not allow, a sample before its family's TYPE, a family split in
// two, a HELP or TYPE given twice, a repeated series, a counter not named
// *_total, a value that is not a float, or a missing final newline.
func promText(data []byte) (map[string]float64, error) {
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("no final newline")
	}
	series := map[string]float64{}
	types := map[string]string{}
	helps := map[string]bool{}
	ended := map[string]bool{} // families whose samples are over
	current := ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		bad := func(why string) error { return fmt.Errorf("line %d %q: %s", i+1, line, why) }
		if m := promHelp.FindStringSubmatch(line); m != nil {
			if helps[m[1]] {
				return nil, bad("HELP twice")
			}
			helps[m[1]] = true
			continue
		}
		if m := promType.FindStringSubmatch(line); m != nil {
			if types[m[1]] != "" {
				return nil, bad("TYPE twice")
			}
			if m[2] == "counter" && !strings.HasSuffix(m[1], "_total") {
				return nil, bad("counter not named *_total")
			}
			types[m[1]] = m[2]
			continue
		}
		m := promSample.FindStringSubmatch(line)
		if m == nil {
			return nil, bad("not a HELP, TYPE or sample line")
		}
		name := m[1]
		if types[name] == "" {
			return nil, bad("sample before its TYPE")
		}
		if name != current {
			if ended[name] {
				return nil, bad("family split in two")
			}
			ended[current] = true
			current = name
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, bad("value is not a float")
		}
		if _, dup := series[name+m[2]]; dup {
			return nil, bad("series twice")
		}
		series[name+m[2]] = v
	}
	return series, nil
}

func TestPromTextRejects(t *testing.T) {
	ok := "# HELP tend_x_total X.\n# TYPE tend_x_total counter\ntend_x_total{task=\"a\"} 1\ntend_x_total{task=\"b\"} 2.5e+09\n"
	series, err := promText([]byte(ok))
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{`tend_x_total{task="a"}`: 1, `tend_x_total{task="b"}`: 2.5e9}, series)
	for _, bad := range []string{
		"tend_x 1\n", // no TYPE
		"# TYPE tend_x gauge\ntend_x{task=sweep} 1\n",              // unquoted label value
		"# TYPE tend_x gauge\ntend_x{task=\"a\"} one\n",            // not a number
		"# TYPE tend_x gauge\ntend_x 1",                            // no final newline
		"# TYPE tend_x counter\ntend_x 1\n",                        // counter without _total
		"# TYPE tend-x gauge\ntend-x 1\n",                          // bad name
		"# TYPE tend_x gauge\ntend_x 1\ntend_x 2\n",                // series twice
		"# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 1\n", // family split
		"# TYPE a gauge\n# TYPE a gauge\na 1\n",                    // TYPE twice
		"# TYPE a gauge\na  1\n",                                   // two spaces
		"# TYPE a gauge\n\na 1\n",                                  // empty line
		"# TYPE a gauge\na{x=\"1\"\"} 1\n",                         // bad quoting
	} {
		_, err := promText([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}
