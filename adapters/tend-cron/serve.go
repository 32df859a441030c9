package main

import (
	"context"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
)

// reapEvery is how often PID 1 reaps even without a SIGCHLD, in case one
// was lost while the signal channel was full.
const reapEvery = 5 * time.Second

// serve runs the scheduler until a stop signal or, in entrypoint mode,
// until the child ends; it returns tend-cron's exit code.
func (c *command) serve(ctx context.Context, f flags, tasks []task, log *slog.Logger) int {
	jobs, err := newJobs(tasks)
	if err != nil {
		c.printConfigError(err)
		return cli.ExitUsage
	}
	var ch *child
	if f.argv != nil {
		var code int
		ch, code, err = startChild(f.argv, os.Stdin, c.stdout, c.stderr, c.pid1)
		if err != nil {
			log.Error("cannot start the command", "err", err)
			return code
		}
		log.Info("started", "command", f.argv, "pid", ch.pid, "reaping", c.pid1)
	}

	m := newMetrics(f.metricsFile)
	s := &scheduler{
		log: log, dryRun: f.dryRun, jitter: f.jitter, runAtStart: f.runAtStart, Now: c.Now,
		record: func(r runRecord) {
			r.log(log)
			m.add(r, c.now())
			if f.metricsFile != "" && !r.DryRun {
				if err := m.write(); err != nil {
					log.Error("metrics not written", "err", err)
				}
			}
		},
	}
	schedCtx, stopSched := context.WithCancel(context.Background())
	defer stopSched()
	defer startFollowers(schedCtx, tasks, f.dryRun)() // images: engine events between runs
	reload := make(chan []job)
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		s.Run(schedCtx, jobs, reload)
	}()
	// finish stops the scheduler (a run in progress stops at a safe point)
	// and waits for it.
	finish := func(code int) int {
		stopSched()
		<-schedDone
		log.Info("stopped", "exit", code)
		return code
	}

	var childDone <-chan struct{}
	var tick <-chan time.Time
	if ch != nil {
		childDone = ch.done
		if ch.reaped {
			t := time.NewTicker(reapEvery)
			defer t.Stop()
			tick = t.C
		}
	}
	parentDone := ctx.Done()
	for {
		var sig os.Signal
		select {
		case <-childDone:
			log.Info("command exited", "pid", ch.pid, "exit", ch.code)
			return finish(ch.code)
		case <-tick:
			reap(ch)
			continue
		case <-parentDone:
			parentDone = nil
			sig = syscall.SIGTERM
		case sig = <-c.signals:
		}
		if sig == syscall.SIGCHLD {
			if c.pid1 {
				reap(ch)
			}
			continue
		}
		if ch != nil && forwardedSignals[sig] {
			if err := ch.signal(sig); err != nil {
				log.Warn("cannot forward signal", "signal", sig.String(), "err", err)
			} else {
				log.Debug("forwarded", "signal", sig.String(), "pid", ch.pid)
			}
		}
		switch {
		case isStop(sig):
			log.Info("stopping: runs in progress stop at a safe point", "signal", sig.String())
			stopSched()
			if ch == nil {
				return finish(cli.ExitOK)
			}
		case sig == syscall.SIGHUP:
			c.reload(f, log, reload, schedDone)
		}
	}
}

// reload reads the config again and hands the new jobs to the scheduler; a
// bad config is logged and the running one kept.
func (c *command) reload(f flags, log *slog.Logger, reload chan<- []job, schedDone <-chan struct{}) {
	tasks, err := c.load(f, log)
	var jobs []job
	if err == nil {
		jobs, err = newJobs(tasks)
	}
	if err != nil {
		for _, e := range flatten(err) {
			log.Error("config not reloaded, keeping the running one", "err", e)
		}
		return
	}
	select {
	case reload <- jobs:
		log.Info("config reloaded", "tasks", len(jobs))
	case <-schedDone:
	}
}
