package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
)

// stopWait bounds how long tend-cron waits, once it stops, for the runs in
// progress: tasks stop at their next safe point and jobs' process groups
// get SIGKILL after killGrace, both well within it. A task that has not
// returned by then is left behind (the process exits under it) and named
// in the log, so that tend-cron never outstays a container's stop grace.
const stopWait = 700 * time.Millisecond

// serve runs the scheduler until a stop signal or, in entrypoint mode,
// until the child ends; it returns tend-cron's exit code.
func (c *command) serve(ctx context.Context, f flags, tasks []task, log *slog.Logger) int {
	entries, err := newEntries(tasks)
	if err != nil {
		cli.PrintErrors(c.stderr, "", err)
		return cli.ExitUsage
	}
	m := newMetrics(f.metricsFile)
	var ln net.Listener
	if f.metricsAddr != "" {
		if ln, err = net.Listen("tcp", f.metricsAddr); err != nil {
			log.Error("cannot serve metrics", "addr", f.metricsAddr, "err", err)
			return cli.ExitUsage
		}
	}
	var ch *child
	if f.argv != nil {
		var code int
		ch, code, err = startChild(f.argv, c.stdin, c.stdout, c.stderr, f.signalGroup)
		if err != nil {
			if ln != nil {
				ln.Close()
			}
			log.Error("cannot start the command", "err", err)
			return code
		}
		log.Info("started", "command", f.argv, "pid", ch.pid, "foreground", ch.foreground, "signal_group", ch.group, "reaping", c.reaping())
	}

	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	httpDone := make(chan struct{})
	if ln != nil {
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
		go func() { defer close(httpDone); m.serve(bg, ln, log) }()
	} else {
		close(httpDone)
	}
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
		skipped: m.skipped,
	}
	schedCtx, stopSched := context.WithCancel(context.Background())
	defer stopSched()
	defer startFollowers(schedCtx, tasks, f.dryRun)() // images: engine events between runs
	reload := make(chan []entry)
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		s.Run(schedCtx, entries, reload)
	}()
	// finish stops the scheduler (tasks stop at a safe point, jobs' groups
	// are killed) and waits for it, at most stopWait.
	finish := func(code int) int {
		stopSched()
		select {
		case <-schedDone:
		case <-time.After(stopWait):
			log.Warn("exiting with runs still in progress: they did not stop in time", "waited", stopWait)
		}
		if f.metricsFile != "" {
			if err := m.write(); err != nil {
				log.Error("metrics not written", "err", err)
			}
		}
		stopBg()
		<-httpDone
		log.Info("stopped", "exit", code)
		return code
	}

	var childDone <-chan struct{}
	if ch != nil {
		childDone = ch.done
	}
	parentDone := ctx.Done()
	for {
		var sig os.Signal
		select {
		case <-childDone:
			log.Info("command exited", "pid", ch.pid, "exit", ch.code)
			return finish(ch.code)
		case <-parentDone:
			parentDone = nil
			sig = syscall.SIGTERM
		case sig = <-c.signals:
		}
		if ch != nil && forwardedSignals[sig] {
			if err := ch.signal(sig); err != nil {
				log.Warn("cannot forward signal", "signal", sig.String(), "err", err)
			} else {
				log.Debug("forwarded", "signal", sig.String(), "pid", ch.pid, "group", ch.group)
			}
		}
		switch {
		case isStop(sig):
			log.Info("stopping: tasks stop at a safe point, jobs are killed", "signal", sig.String())
			stopSched()
			if ch == nil {
				return finish(cli.ExitOK)
			}
		case sig == syscall.SIGHUP:
			c.reload(f, log, reload, schedDone)
		}
	}
}

// reaping says who reaps the container's zombies.
func (c *command) reaping() string {
	if c.underInit {
		return "PID 1 (tend-cron's init)"
	}
	return "not PID 1: left to the container's init"
}

// reload reads the config again and hands the new entries to the
// scheduler; a bad config is logged and the running one kept.
func (c *command) reload(f flags, log *slog.Logger, reload chan<- []entry, schedDone <-chan struct{}) {
	tasks, err := c.load(f, log)
	var entries []entry
	if err == nil {
		entries, err = newEntries(tasks)
	}
	if err != nil {
		for _, e := range cli.Flatten(err) {
			log.Error("config not reloaded, keeping the running one", "err", e)
		}
		return
	}
	select {
	case reload <- entries:
		log.Info("config reloaded", "entries", len(entries))
	case <-schedDone:
	}
}
