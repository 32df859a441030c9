package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/units"
)

// runRecord is one run of one task as tend-cron prints it: the task's own
// report plus when it ran, how long it took and what went wrong.
type runRecord struct {
	// Task is the task's name, or the job's when Job is true.
	Task     string    `json:"task"`
	Job      bool      `json:"job,omitempty"`
	DryRun   bool      `json:"dry_run"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	// OK is true when the run finished without an error.
	OK bool `json:"ok"`
	// Canceled is true when a signal stopped the run at a safe point; Report
	// then holds the partial work.
	Canceled bool `json:"canceled,omitempty"`
	// Errors lists every problem that failed the run, one per item.
	Errors []string `json:"errors,omitempty"`
	// Denied lists the paths the run had no permission to touch, with the
	// reason. They are reported, not failures: a non-root tend-cron works
	// on what its user owns, and a shared /tmp always holds other users'
	// files.
	Denied  []string           `json:"denied,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Report  any                `json:"report,omitempty"`
	// Lines is the task's human summary.
	Lines []string `json:"-"`
}

// runTask runs t once and records the outcome; a panic in the task becomes
// an error, so that one bad run cannot take the container's PID 1 down.
func runTask(ctx context.Context, t task, dryRun bool, now func() time.Time) (rec runRecord) {
	rec = runRecord{Task: t.Name(), DryRun: dryRun, Started: now()}
	_, rec.Job = t.(*jobTask)
	var (
		res taskResult
		err error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%s: panic: %v\n%s", t.Name(), p, debug.Stack())
			}
		}()
		res, err = t.Run(ctx, dryRun)
	}()
	rec.Duration = now().Sub(rec.Started).Seconds()
	rec.Report, rec.Lines, rec.Metrics = res.Report, res.Lines, res.Metrics
	rec.Canceled = err != nil && ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, context.Cause(ctx)))
	for _, e := range cli.Flatten(err) {
		if errors.Is(e, fs.ErrPermission) && !rec.Canceled {
			rec.Denied = append(rec.Denied, e.Error())
		} else {
			rec.Errors = append(rec.Errors, e.Error())
		}
	}
	rec.OK = err == nil || (!rec.Canceled && len(rec.Errors) == 0)
	return rec
}

// status is the outcome of a run in a few words.
func (r runRecord) status() string {
	n := len(r.Errors)
	switch {
	case r.Canceled:
		return "stopped"
	case !r.OK && len(r.Lines) == 0:
		return "failed"
	case !r.OK && r.DryRun:
		return fmt.Sprintf("planned with %d %s", n, plural(n, "error", "errors"))
	case !r.OK:
		return fmt.Sprintf("done with %d %s", n, plural(n, "error", "errors"))
	}
	if r.DryRun {
		return "planned"
	}
	return "done"
}

// writeHuman prints the record as a header line, the task's summary lines
// and one line per error.
func (r runRecord) writeHuman(w io.Writer) {
	head := fmt.Sprintf("%s: %s in %s", r.Task, r.status(), roundDuration(r.Duration))
	if d := len(r.Denied); d > 0 {
		head += fmt.Sprintf(", %d %s not permitted", d, plural(d, "path", "paths"))
	}
	switch {
	case r.DryRun:
		head += " (dry run: nothing changed)"
	case r.Canceled:
		head += " (stopped at a safe point; partial work below)"
	}
	fmt.Fprintln(w, head)
	denied := map[string]bool{}
	for _, d := range r.Denied {
		denied["error: "+d] = true
	}
	shown := map[string]bool{}
	for _, l := range r.Lines {
		// The header already names the task; denied paths follow below.
		l = strings.TrimPrefix(l, r.Task+": ")
		if denied[strings.TrimSpace(l)] {
			continue
		}
		shown[strings.TrimSpace(l)] = true
		fmt.Fprintf(w, "  %s\n", l)
	}
	for _, e := range r.Errors {
		if !shown["error: "+e] { // a task may list its errors in Lines too
			fmt.Fprintf(w, "  error: %s\n", e)
		}
	}
	for _, d := range r.Denied {
		fmt.Fprintf(w, "  not permitted: %s\n", d)
	}
}

// log writes the record to the logger: one record for the outcome, one
// per summary line and one per error.
func (r runRecord) log(log *slog.Logger) {
	key := "task"
	if r.Job {
		key = "job"
	}
	attrs := []any{key, r.Task, "duration", roundDuration(r.Duration).String(), "dry_run", r.DryRun}
	if len(r.Denied) > 0 {
		attrs = append(attrs, "not_permitted", len(r.Denied))
	}
	switch {
	case r.Canceled:
		log.Warn(r.Task+" stopped at a safe point", attrs...)
	case !r.OK:
		log.Error(r.Task+" failed", append(attrs, "errors", len(r.Errors))...)
	default:
		log.Info(r.Task+" "+r.status(), attrs...)
	}
	denied := map[string]bool{}
	for _, d := range r.Denied {
		denied["error: "+d] = true
	}
	for _, l := range r.Lines {
		l = strings.TrimSpace(strings.TrimPrefix(l, r.Task+": "))
		if !denied[l] {
			log.Info(l, key, r.Task)
		}
	}
	for _, e := range r.Errors {
		log.Warn(e, key, r.Task)
	}
	for _, d := range r.Denied {
		log.Warn("not permitted: "+d, key, r.Task)
	}
}

// roundDuration is a run's duration in seconds as units.Round prints it.
func roundDuration(sec float64) time.Duration {
	return units.Round(time.Duration(sec * float64(time.Second)))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
