package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/adapters/internal/config"
)

// onceReport is the JSON document --once --json prints.
type onceReport struct {
	Version string      `json:"version"`
	Config  string      `json:"config"`
	DryRun  bool        `json:"dry_run"`
	OK      bool        `json:"ok"`
	Tasks   []runRecord `json:"tasks"`
}

// runOnce runs each task, then each job, once, in order, and prints the
// summary. SIGTERM or SIGINT stops the task in progress at a safe point (a
// job's process group is killed) and skips the rest.
func (c *command) runOnce(ctx context.Context, f flags, tasks []task, log *slog.Logger) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-c.signals:
				if isStop(sig) {
					log.Warn("stopping at a safe point", "signal", sig.String())
					cancel()
				}
			}
		}
	}()
	defer func() { cancel(); <-done }()

	rep := onceReport{Version: cli.VersionString(name), Config: f.config, DryRun: f.dryRun, OK: true}
	if rep.Config == "" {
		rep.Config = config.DefaultName
	}
	m := newMetrics(f.metricsFile)
	for _, t := range tasks {
		if ctx.Err() != nil {
			log.Warn("skipped: stopped by a signal", kindKey(t), t.Name())
			continue
		}
		log.Debug("running", kindKey(t), t.Name(), "dry_run", f.dryRun)
		rec := runTask(ctx, t, f.dryRun, c.now)
		rep.OK = rep.OK && rec.OK
		rep.Tasks = append(rep.Tasks, rec)
		m.add(rec, c.now())
	}
	if f.metricsFile != "" && !f.dryRun {
		if err := m.write(); err != nil {
			log.Error("metrics not written", "err", err)
			rep.OK = false
		}
	}
	if f.JSON {
		if err := writeOnceJSON(c.stdout, rep); err != nil {
			fmt.Fprintf(c.stderr, "%s: %v\n", name, err)
			return cli.ExitFail
		}
	} else {
		c.writeSummary(rep)
	}
	if !rep.OK {
		return cli.ExitFail
	}
	return cli.ExitOK
}

// writeSummary prints the human summary of --once.
func (c *command) writeSummary(rep onceReport) {
	if rep.DryRun {
		fmt.Fprintf(c.stdout, "tend-cron dry run of %s: nothing is changed\n\n", rep.Config)
	}
	failed := 0
	for i, r := range rep.Tasks {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		r.writeHuman(c.stdout)
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(c.stdout, "\n%d of %d %s failed\n", failed, len(rep.Tasks), plural(len(rep.Tasks), "task", "tasks"))
	}
}

// isStop reports whether sig asks tend-cron to stop.
func isStop(sig os.Signal) bool { return sig == syscall.SIGTERM || sig == syscall.SIGINT }
