package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/adapters/internal/cli"
)

func TestUsageAndConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string // substrings of stderr (or stdout for --help/--version)
	}{
		{"help", []string{"--help"}, 0, []string{"Usage:", "--once", "-- CMD ARGS"}},
		{"version", []string{"--version"}, 0, []string{"tend-cron "}},
		{"bad flag", []string{"--nope"}, 2, []string{"flag provided but not defined: -nope"}},
		{"bad only", []string{"--once", "--only", "cleanup"}, 2, []string{`--only "cleanup": no task or job of that name (the config has: sweep)`}},
		{"command without --", []string{"jupyter"}, 2, []string{`unexpected argument "jupyter": put the command to run after --`}},
		{"once with command", []string{"--once", "--", "true"}, 2, []string{"cannot also run the command"}},
		{"json without once", []string{"--json", "--", "true"}, 2, []string{"--json prints the summary of --once", "--log-format json"}},
		{"bad jitter", []string{"--jitter", "-5m"}, 2, []string{`duration "-5m": negative`}},
		{"bad log level", []string{"--once", "--log-level", "loud"}, 2, []string{`--log-level "loud"`}},
		{"missing config", []string{"--once", "--config", "testdata/nope.yaml"}, 2, []string{"testdata/nope.yaml: read config:", "no such file"}},
		{"empty config", []string{"--once", "--config", "testdata/empty.yaml"}, 2, []string{"testdata/empty.yaml: config is empty"}},
		{"bad schedule, every error", []string{"--once", "--config", "testdata/bad-schedule.yaml"}, 2, []string{
			`testdata/bad-schedule.yaml:2: field sweep.schedule: bad schedule "61 * * * *": end of range (61) above maximum (59)`,
			"testdata/bad-schedule.yaml:10: field rotate.files[0].keep: -2 is negative",
		}},
		{"only a section that is absent", []string{"--once", "--only", "images", "--config", "testdata/fake.yaml"}, 2, []string{"testdata/fake.yaml: --only images: the config has no images section"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, stdout, stderr := testCommand(t, &fakeTask{name: "sweep"}, &fakeTask{name: "rotate"}, &fakeTask{name: "images"})
			code := c.run(context.Background(), tt.args)
			out := stdout.String() + stderr.String()
			assert.Equal(t, tt.code, code, out)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

// TestHelpText: every flag shows a placeholder in capitals and its
// default once.
func TestHelpText(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := newCommand(&stdout, &stderr).run(context.Background(), []string{"--help"})
	require.Equal(t, 0, code, stderr.String())
	out := stdout.String()
	for _, w := range []string{"--config FILE\n", "--jitter DURATION\n", "--only NAME\n", "--log-level LEVEL\n", "(default info)"} {
		assert.Contains(t, out, w)
	}
	assert.Empty(t, cli.HelpProblems(out), "placeholders in capitals, one default per flag:\n%s", out)
}

func TestOnceRunsEachTaskInOrder(t *testing.T) {
	sweep, rotate := &fakeTask{name: "sweep"}, &fakeTask{name: "rotate"}
	c, stdout, _ := testCommand(t, sweep, rotate)
	code := c.run(context.Background(), []string{"--once", "--config", "testdata/fake.yaml"})
	require.Equal(t, 0, code)
	assert.Equal(t, 1, sweep.runCount())
	assert.Equal(t, 1, rotate.runCount())
	out := stdout.String()
	assert.Regexp(t, `(?m)^sweep: done in .*\n  deleted 2 files \(3 KiB\)\n\nrotate: done in `, out)
}

func TestOnceOnlyAndDryRun(t *testing.T) {
	sweep, rotate := &fakeTask{name: "sweep"}, &fakeTask{name: "rotate"}
	c, stdout, _ := testCommand(t, sweep, rotate)
	code := c.run(context.Background(), []string{"--once", "--dry-run", "--only", "rotate", "--config", "testdata/fake.yaml"})
	require.Equal(t, 0, code)
	assert.Equal(t, 0, sweep.runCount())
	assert.Equal(t, 1, rotate.runCount())
	assert.Contains(t, stdout.String(), "tend-cron dry run of testdata/fake.yaml: nothing is changed")
	assert.Contains(t, stdout.String(), "rotate: planned in ")
	assert.Contains(t, stdout.String(), "  would delete 2 files (3 KiB)")
}

// A task that met errors fails the run (exit 1) and every error is printed
// after the work it did do; paths it had no permission for are listed with
// their reason but do not fail the run on their own.
func TestOnceFailedTaskListsEachError(t *testing.T) {
	sweep := &fakeTask{name: "sweep", run: func(context.Context, bool) (taskResult, error) {
		var errs *multierror.Error
		errs = multierror.Append(errs,
			fmt.Errorf("sweep /root/.cache: open x: %w", &os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}),
			fmt.Errorf("sweep /tmp/x: %w", syscall.EIO))
		return taskResult{Lines: []string{"deleted 1 file (1 B)"}}, fmt.Errorf("sweep: %w", errs.ErrorOrNil())
	}}
	rotate := &fakeTask{name: "rotate"}
	c, stdout, _ := testCommand(t, sweep, rotate)
	code := c.run(context.Background(), []string{"--once", "--config", "testdata/fake.yaml"})
	assert.Equal(t, 1, code)
	assert.Equal(t, 1, rotate.runCount(), "a failed task does not stop the others")
	assert.Contains(t, stdout.String(), "sweep: done with 1 error in ")
	assert.Contains(t, stdout.String(), ", 1 path not permitted\n  deleted 1 file (1 B)\n  error: sweep /tmp/x: input/output error\n"+
		"  not permitted: sweep /root/.cache: open x: open x: permission denied\n")
	assert.Contains(t, stdout.String(), "1 of 2 tasks failed")
}

func TestOnceNotPermittedIsReportedNotFailed(t *testing.T) {
	sweep := &fakeTask{name: "sweep", run: func(context.Context, bool) (taskResult, error) {
		var errs *multierror.Error
		errs = multierror.Append(errs,
			fmt.Errorf("sweep /tmp: open /tmp/a: %w", os.ErrPermission),
			fmt.Errorf("sweep /tmp: remove /tmp/b: %w", syscall.EPERM))
		return taskResult{Lines: []string{"deleted 3 files (3 B)", "  error: sweep /tmp: open /tmp/a: permission denied"}}, errs.ErrorOrNil()
	}}
	c, stdout, _ := testCommand(t, sweep)
	c.Now = func() time.Time { return time.Unix(1700000000, 0) }
	code := c.run(context.Background(), []string{"--once", "--config", "testdata/fake.yaml"})
	assert.Equal(t, 0, code, stdout.String())
	assert.Equal(t, "sweep: done in 0s, 2 paths not permitted\n  deleted 3 files (3 B)\n"+
		"  not permitted: sweep /tmp: open /tmp/a: permission denied\n"+
		"  not permitted: sweep /tmp: remove /tmp/b: operation not permitted\n", stdout.String())
}

func TestOnceJSON(t *testing.T) {
	sweep := &fakeTask{name: "sweep"}
	rotate := &fakeTask{name: "rotate", run: func(context.Context, bool) (taskResult, error) {
		return taskResult{}, errors.New("rotate /var/log/x.log: permission denied")
	}}
	c, stdout, _ := testCommand(t, sweep, rotate)
	code := c.run(context.Background(), []string{"--once", "--json", "--config", "testdata/fake.yaml"})
	assert.Equal(t, 1, code)
	var doc struct {
		Config string `json:"config"`
		OK     bool   `json:"ok"`
		Tasks  []struct {
			Task    string             `json:"task"`
			OK      bool               `json:"ok"`
			Errors  []string           `json:"errors"`
			Metrics map[string]float64 `json:"metrics"`
			Report  map[string]any     `json:"report"`
		} `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &doc), stdout.String())
	assert.Equal(t, "testdata/fake.yaml", doc.Config)
	assert.False(t, doc.OK)
	require.Len(t, doc.Tasks, 2)
	assert.Equal(t, "sweep", doc.Tasks[0].Task)
	assert.True(t, doc.Tasks[0].OK)
	assert.Equal(t, 2.0, doc.Tasks[0].Report["files"])
	assert.Equal(t, 3072.0, doc.Tasks[0].Metrics["bytes_freed"])
	assert.False(t, doc.Tasks[1].OK)
	assert.Equal(t, []string{"rotate /var/log/x.log: permission denied"}, doc.Tasks[1].Errors)
}

// SIGTERM during a sweep stops it at a safe point: the partial work is
// reported, the remaining tasks are skipped, and the run counts as failed.
func TestOnceSignalStopsAtSafePoint(t *testing.T) {
	started := make(chan struct{})
	sweep := &fakeTask{name: "sweep", run: func(ctx context.Context, _ bool) (taskResult, error) {
		close(started)
		<-ctx.Done() // the safe point between two files
		return taskResult{Lines: []string{"deleted 40 files (1 MiB) before stopping"}}, fmt.Errorf("sweep /tmp: %w", ctx.Err())
	}}
	rotate := &fakeTask{name: "rotate"}
	c, stdout, _ := testCommand(t, sweep, rotate)
	sigs := make(chan os.Signal, 1)
	c.signals = sigs
	go func() { <-started; sigs <- syscall.SIGTERM }()
	code := c.run(context.Background(), []string{"--once", "--config", "testdata/fake.yaml"})
	assert.Equal(t, 1, code)
	assert.Equal(t, 0, rotate.runCount())
	assert.Contains(t, stdout.String(), "sweep: stopped in ")
	assert.Contains(t, stdout.String(), "(stopped at a safe point; partial work below)\n  deleted 40 files (1 MiB) before stopping\n")
}

func TestOnceMetricsFile(t *testing.T) {
	sweep := &fakeTask{name: "sweep"}
	rotate := &fakeTask{name: "rotate", run: func(context.Context, bool) (taskResult, error) {
		return taskResult{Metrics: map[string]float64{"rotations": 1}}, errors.New("rotate: one failed")
	}}
	c, _, _ := testCommand(t, sweep, rotate)
	c.Now = func() time.Time { return time.Unix(1700000000, 0) }
	path := filepath.Join(t.TempDir(), "tend.prom")
	code := c.run(context.Background(), []string{"--once", "--metrics-file", path, "--config", "testdata/fake.yaml"})
	assert.Equal(t, 1, code)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(data)
	for _, want := range []string{
		"# TYPE tend_freed_bytes_total counter\ntend_freed_bytes_total{task=\"sweep\"} 3072\n",
		"tend_files_deleted_total{task=\"sweep\"} 2\n",
		"tend_rotations_total{task=\"rotate\"} 1\n",
		"tend_task_errors{task=\"rotate\"} 1\ntend_task_errors{task=\"sweep\"} 0\n",
		"tend_last_success_timestamp_seconds{task=\"sweep\"} 1.7e+09\n",
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, `tend_last_success_timestamp_seconds{task="rotate"}`, "rotate never succeeded")

	// A dry run changes nothing, so it writes no metrics.
	path2 := filepath.Join(t.TempDir(), "dry.prom")
	c.run(context.Background(), []string{"--once", "--dry-run", "--metrics-file", path2, "--config", "testdata/fake.yaml"})
	assert.NoFileExists(t, path2)
}

func TestOnceNoTasks(t *testing.T) {
	c, _, stderr := testCommand(t) // no maker: nothing configured
	code := c.run(context.Background(), []string{"--once"})
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "<embedded default>: nothing to run")
	assert.False(t, strings.Contains(stderr.String(), "panic"))
}
