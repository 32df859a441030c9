package main

import (
	"context"
	"errors"
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

// entry is a task or job and its parsed schedule.
type entry struct {
	task task
	spec string
	when cron.Schedule
	// overlap is config.OverlapSkip, OverlapQueue or OverlapKill.
	overlap string
	// jitter is the entry's own random delay bound (jobs), used instead
	// of the scheduler's when set.
	jitter time.Duration
}

// scheduled is what a task may add to its schedule: jobs have an overlap
// policy and a jitter of their own.
type scheduled interface {
	Overlap() string
	Jitter() time.Duration
}

// newEntries parses each task's schedule with the parser the config loader
// validates with (config.ParseSchedule: robfig/cron's standard syntax).
func newEntries(tasks []task) ([]entry, error) {
	entries := make([]entry, 0, len(tasks))
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
		e := entry{task: t, spec: spec, when: when, overlap: config.OverlapSkip}
		if s, ok := t.(scheduled); ok {
			e.overlap, e.jitter = s.Overlap(), s.Jitter()
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// skip is a scheduled run that did not happen, and why.
type skip struct {
	Name   string
	IsJob  bool
	Slot   time.Time
	Reason string
}

// Reasons a slot is skipped.
const (
	skipBusy   = "the previous run is still going"
	skipQueued = "a run is already queued behind the one still going"
	skipLate   = "its time passed while tend-cron waited (jitter longer than the interval, or the machine was suspended)"
)

// scheduler runs entries on their schedules. Each entry has one goroutine
// that sleeps until the next time its schedule names (plus a random
// jitter) and starts a run; the next time is counted from the slot, not
// from the end of the run. A slot that comes while the previous run still
// goes follows the entry's overlap policy: skip (tasks always) logs and
// counts it; queue starts it when the previous run ends (one at most
// waits; later slots are skipped); kill stops the previous run (a job's
// process group gets SIGTERM, then SIGKILL) and starts the new one. No
// slot is skipped without a log line and a count. A reload replaces the
// entries: the old goroutines stop waiting at once, a run in progress
// finishes, and the new schedule's slots meet it as above. When ctx ends,
// runs in progress see it and stop at a safe point, and Run returns once
// all of them have.
type scheduler struct {
	log *slog.Logger
	// dryRun plans instead of acting.
	dryRun bool
	// jitter delays each scheduled run by a random duration in [0, jitter)
	// for entries without a jitter of their own.
	jitter time.Duration
	// runAtStart runs every entry once when Run starts.
	runAtStart bool
	// record receives every run (logging, metrics).
	record func(runRecord)
	// skipped receives every skipped slot (logging is done here).
	skipped func(skip)
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// randN returns a random duration in [0, n) (nil = math/rand/v2).
	randN func(n time.Duration) time.Duration

	mu     sync.Mutex
	states map[string]*runState
	runs   sync.WaitGroup
}

// runState is the run in progress of one name, across reloads.
type runState struct {
	running bool
	queued  bool
	cancel  context.CancelCauseFunc
	done    chan struct{}
}

// errReplaced is the cause given to a run stopped by a kill overlap.
var errReplaced = errors.New("the next scheduled run replaced it (overlap: kill)")

func (s *scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *scheduler) jitterDelay(e entry) time.Duration {
	j := s.jitter
	if e.jitter > 0 {
		j = e.jitter
	}
	if j <= 0 {
		return 0
	}
	if s.randN != nil {
		return s.randN(j)
	}
	return rand.N(j)
}

// Run runs entries until ctx ends, replacing them with each list received
// on reload, and returns after every run in progress has returned.
func (s *scheduler) Run(ctx context.Context, entries []entry, reload <-chan []entry) {
	var loops sync.WaitGroup
	start := func(entries []entry, first bool) chan struct{} {
		stop := make(chan struct{})
		for _, e := range entries {
			s.log.Info("scheduled", kindKey(e.task), e.task.Name(), "schedule", e.spec, "next", e.when.Next(s.now()).Format(time.RFC3339))
			loops.Go(func() { s.loop(ctx, stop, e, first && s.runAtStart) })
		}
		return stop
	}
	stop := start(entries, true)
	for {
		select {
		case <-ctx.Done():
			close(stop)
			loops.Wait()
			s.runs.Wait()
			return
		case entries := <-reload:
			close(stop)
			stop = start(entries, false)
		}
	}
}

// loop fires e's slots until stop closes or ctx ends.
func (s *scheduler) loop(ctx context.Context, stop <-chan struct{}, e entry, runNow bool) {
	slot := s.now()
	if runNow {
		s.fire(ctx, e, slot)
	}
	for {
		next := e.when.Next(slot)
		for late := 0; !next.IsZero() && next.Before(s.now().Add(-time.Second)); late++ {
			if late == 100 { // a long suspend: name the first slots, count the rest in one line
				s.log.Warn("skipped: more slots passed while tend-cron waited", kindKey(e.task), e.task.Name(), "since", next.Format(time.RFC3339))
				next = e.when.Next(s.now())
				break
			}
			s.skip(e, next, skipLate)
			next = e.when.Next(next)
		}
		if next.IsZero() {
			s.log.Warn("schedule never fires again", kindKey(e.task), e.task.Name(), "schedule", e.spec)
			return
		}
		t := time.NewTimer(next.Sub(s.now()) + s.jitterDelay(e))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		slot = next
		s.fire(ctx, e, slot)
	}
}

func (s *scheduler) state(name string) *runState {
	if s.states == nil {
		s.states = map[string]*runState{}
	}
	st := s.states[name]
	if st == nil {
		st = &runState{}
		s.states[name] = st
	}
	return st
}

// fire starts a run of e for slot, or applies e's overlap policy when a
// run of the same name is still going.
func (s *scheduler) fire(ctx context.Context, e entry, slot time.Time) {
	name := e.task.Name()
	s.mu.Lock()
	st := s.state(name)
	if st.running {
		switch e.overlap {
		case config.OverlapQueue:
			if !st.queued {
				st.queued = true
				s.mu.Unlock()
				s.log.Info("queued: the previous run is still going", kindKey(e.task), name, "slot", slot.Format(time.RFC3339))
				return
			}
			s.mu.Unlock()
			s.skip(e, slot, skipQueued)
			return
		case config.OverlapKill:
			cancel, done := st.cancel, st.done
			st.queued = false
			s.mu.Unlock()
			s.log.Warn("killing the previous run: the next one is due (overlap: kill)", kindKey(e.task), name)
			cancel(errReplaced)
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
			s.mu.Lock()
			if st.running { // another slot started one meanwhile
				s.mu.Unlock()
				s.skip(e, slot, skipBusy)
				return
			}
		default:
			s.mu.Unlock()
			s.skip(e, slot, skipBusy)
			return
		}
	}
	st.running = true
	st.done = make(chan struct{})
	runCtx, cancel := context.WithCancelCause(ctx)
	st.cancel = cancel
	s.mu.Unlock()
	s.runs.Go(func() { s.execute(ctx, runCtx, e, st) })
}

// execute runs e, then the run queued behind it if any.
func (s *scheduler) execute(ctx, runCtx context.Context, e entry, st *runState) {
	for {
		rec := runTask(runCtx, e.task, s.dryRun, s.now)
		s.mu.Lock()
		st.cancel(nil)
		s.mu.Unlock()
		if s.record != nil {
			s.record(rec)
		}
		s.mu.Lock()
		if st.queued && ctx.Err() == nil {
			st.queued = false
			var cancel context.CancelCauseFunc
			runCtx, cancel = context.WithCancelCause(ctx)
			st.cancel = cancel
			s.mu.Unlock()
			continue
		}
		st.queued, st.running = false, false
		close(st.done)
		s.mu.Unlock()
		return
	}
}

// skip logs and counts a slot that did not run.
func (s *scheduler) skip(e entry, slot time.Time, reason string) {
	s.log.Warn("skipped: "+reason, kindKey(e.task), e.task.Name(), "slot", slot.Format(time.RFC3339))
	if s.skipped != nil {
		_, isJob := e.task.(*jobTask)
		s.skipped(skip{Name: e.task.Name(), IsJob: isJob, Slot: slot, Reason: reason})
	}
}

// kindKey is the log key naming t: "job" for a user's job, "task" else.
func kindKey(t task) string {
	if _, ok := t.(*jobTask); ok {
		return "job"
	}
	return "task"
}
