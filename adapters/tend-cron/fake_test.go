package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/internal/testenv"
)

// fakeTask is a task whose runs the test scripts: run is called for each
// run (nil: a quick successful run with one line).
type fakeTask struct {
	name, schedule string
	run            func(ctx context.Context, dryRun bool) (taskResult, error)

	mu      sync.Mutex
	runs    []time.Time // start of each run
	active  int
	overlap bool // a run started while another was going
}

func (f *fakeTask) Name() string     { return f.name }
func (f *fakeTask) Schedule() string { return f.schedule }

func (f *fakeTask) Run(ctx context.Context, dryRun bool) (taskResult, error) {
	f.mu.Lock()
	f.runs = append(f.runs, time.Now())
	f.active++
	if f.active > 1 {
		f.overlap = true
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	if f.run != nil {
		return f.run(ctx, dryRun)
	}
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	return taskResult{
		Report:  map[string]any{"files": 2},
		Lines:   []string{verb + " 2 files (3 KiB)"},
		Metrics: map[string]float64{"files_deleted": 2, "bytes_freed": 3072},
	}, nil
}

func (f *fakeTask) runCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs)
}

// fakeMakers returns makers that build the given fake tasks when their
// config section is present, as the real makers do.
func fakeMakers(tasks ...*fakeTask) []taskMaker {
	var makers []taskMaker
	for _, ft := range tasks {
		makers = append(makers, func(cfg *config.Config, _ *slog.Logger) (task, bool, error) {
			present := map[string]bool{"sweep": cfg.Sweep != nil, "rotate": cfg.Rotate != nil, "images": cfg.Images != nil}
			if !present[ft.name] {
				return nil, false, nil
			}
			if ft.schedule != "" {
				return ft, true, nil
			}
			sched := map[string]func() string{
				"sweep":  func() string { return cfg.Sweep.Schedule },
				"rotate": func() string { return cfg.Rotate.Schedule },
				"images": func() string { return cfg.Images.Schedule },
			}[ft.name]()
			return configuredFake{ft, sched}, true, nil
		})
	}
	return makers
}

// configuredFake is a fakeTask with the schedule of the config it was made
// from, as a real task takes it.
type configuredFake struct {
	*fakeTask
	schedule string
}

func (c configuredFake) Schedule() string { return c.schedule }

// syncBuffer is safe for a command's concurrent writers.
type syncBuffer = testenv.Buffer

// testCommand is a command with fake tasks, output captured, and the home
// directory and environment isolated from the test machine's.
func testCommand(t *testing.T, tasks ...*fakeTask) (*command, *syncBuffer, *syncBuffer) {
	t.Helper()
	var stdout, stderr syncBuffer
	c := newCommand(&stdout, &stderr)
	c.makers = fakeMakers(tasks...)
	c.cfgOpts = config.Options{Home: t.TempDir(), Env: []string{}}
	return c, &stdout, &stderr
}

var _ io.Writer = (*syncBuffer)(nil)
