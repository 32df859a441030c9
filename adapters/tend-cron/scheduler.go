package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tendkit/tend/adapters/internal/config"
)

// defaultSchedules apply when a section leaves its schedule out.
var defaultSchedules = map[string]string{
	"sweep":  "@daily",
	"rotate": "@hourly",
	"images": "@weekly",
}

// job is a task and its parsed schedule.
type job struct {
	task task
	spec string
	when cron.Schedule
}

// newJobs parses each task's schedule with the parser the config loader
// validates with (config.ParseSchedule: robfig/cron's standard syntax).
func newJobs(tasks []task) ([]job, error) {
	jobs := make([]job, 0, len(tasks))
	for _, t := range tasks {
		spec := t.Schedule()
		if spec == "" {
			spec = defaultSchedules[t.Name()]
		}
		if spec == "" {
			return nil, fmt.Errorf("%s: no schedule", t.Name())
		}
		when, err := config.ParseSchedule(spec)
		if err != nil {
			return nil, fmt.Errorf("%s.schedule: bad schedule %q: %w", t.Name(), spec, err)
		}
		jobs = append(jobs, job{task: t, spec: spec, when: when})
	}
	return jobs, nil
}

// scheduler runs jobs on their schedules. Each job has one goroutine that
// sleeps until the next time its schedule names (plus a random jitter),
// runs the task and computes the next time from the end of the run, so a
// task never overlaps itself: a run that outlasts its interval makes the
// runs it covered be skipped, not queued. A reload replaces the jobs: the
// old goroutines stop waiting at once, a run in progress finishes, and a
// new run of the same task does not start before it has (it is skipped
// instead). When ctx ends, runs in progress see it and stop at a safe
// point, and Run returns once all of them have.
type scheduler struct {
	log *slog.Logger
	// dryRun plans instead of acting.
	dryRun bool
	// jitter delays each scheduled run by a random duration in [0, jitter).
	jitter time.Duration
	// runAtStart runs every job once when Run starts.
	runAtStart bool
	// record receives every run (logging, metrics).
	record func(runRecord)
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// randN returns a random duration in [0, n) (nil = math/rand/v2).
	randN func(n time.Duration) time.Duration

	mu      sync.Mutex
	running map[string]bool
}

func (s *scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *scheduler) jitterDelay() time.Duration {
	if s.jitter <= 0 {
		return 0
	}
	if s.randN != nil {
		return s.randN(s.jitter)
	}
	return rand.N(s.jitter)
}

// Run runs jobs until ctx ends, replacing them with each list received on
// reload, and returns after every run in progress has returned.
func (s *scheduler) Run(ctx context.Context, jobs []job, reload <-chan []job) {
	var wg sync.WaitGroup
	start := func(jobs []job, first bool) chan struct{} {
		stop := make(chan struct{})
		for _, j := range jobs {
			s.log.Info("scheduled", "task", j.task.Name(), "schedule", j.spec, "next", j.when.Next(s.now()).Format(time.RFC3339))
			wg.Go(func() { s.loop(ctx, stop, j, first && s.runAtStart) })
		}
		return stop
	}
	stop := start(jobs, true)
	for {
		select {
		case <-ctx.Done():
			close(stop)
			wg.Wait()
			return
		case jobs := <-reload:
			close(stop)
			stop = start(jobs, false)
		}
	}
}

// loop runs one job until stop closes or ctx ends.
func (s *scheduler) loop(ctx context.Context, stop <-chan struct{}, j job, runNow bool) {
	if runNow {
		s.runJob(ctx, j)
	}
	for {
		now := s.now()
		next := j.when.Next(now)
		if next.IsZero() {
			s.log.Warn("schedule never fires again", "task", j.task.Name(), "schedule", j.spec)
			return
		}
		t := time.NewTimer(next.Sub(now) + s.jitterDelay())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		s.runJob(ctx, j)
	}
}

// runJob runs j's task unless a run of it is still in progress (from before
// a reload), in which case this run is skipped.
func (s *scheduler) runJob(ctx context.Context, j job) {
	name := j.task.Name()
	s.mu.Lock()
	if s.running == nil {
		s.running = map[string]bool{}
	}
	busy := s.running[name]
	s.running[name] = true
	s.mu.Unlock()
	if busy {
		s.log.Warn("skipped: the previous run is still going", "task", name)
		return
	}
	defer func() {
		s.mu.Lock()
		s.running[name] = false
		s.mu.Unlock()
	}()
	rec := runTask(ctx, j.task, s.dryRun, s.now)
	if s.record != nil {
		s.record(rec)
	}
}
