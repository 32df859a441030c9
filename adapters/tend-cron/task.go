package main

import (
	"context"
	"log/slog"

	"github.com/tendkit/tend/adapters/internal/config"
)

// task is one configured job of tend-cron: sweep, rotate or images. Each
// lives in its own file (task_sweep.go, task_rotate.go, task_images.go) and
// turns its config section into the package's options.
type task interface {
	// Name is "sweep", "rotate" or "images", as --only takes it.
	Name() string
	// Schedule is the section's schedule text ("" = the task's default).
	Schedule() string
	// Run plans (dryRun) or carries out one run. It returns a result even
	// when err is non-nil, with whatever partial work was done.
	Run(ctx context.Context, dryRun bool) (taskResult, error)
}

// taskResult is what one run of a task reports.
type taskResult struct {
	// Report is the package's typed report or plan, printed by --json.
	Report any
	// Lines are the human-readable summary, one line each.
	Lines []string
	// Metrics are counters for the Prometheus textfile, by name without the
	// tend_ prefix: "bytes_freed", "files_deleted", "rotations",
	// "images_removed", "errors" ...
	Metrics map[string]float64
}

// Each task file provides a constructor of this shape, returning ok=false
// when its section is absent from the config:
//
//	func newSweepTask(cfg *config.Config, log *slog.Logger) (t task, ok bool, err error)
type taskMaker func(cfg *config.Config, log *slog.Logger) (task, bool, error)

// taskMakers lists the tasks in the order --once runs them.
var taskMakers = []taskMaker{newSweepTask, newRotateTask, newImagesTask}
