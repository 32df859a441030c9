package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// records collects the scheduler's runs.
type records struct {
	mu   sync.Mutex
	list []runRecord
}

func (r *records) add(rec runRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec)
}

func (r *records) get() []runRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]runRecord(nil), r.list...)
}

func mustEntries(t *testing.T, tasks ...task) []entry {
	t.Helper()
	entries, err := newEntries(tasks)
	require.NoError(t, err)
	return entries
}

// startScheduler runs s in the bubble and returns a stop function that
// cancels it and waits for Run to return.
func startScheduler(s *scheduler, entries []entry, reload chan []entry) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, entries, reload); close(done) }()
	return func() { cancel(); <-done }
}

func offsets(start time.Time, times []time.Time) []time.Duration {
	var out []time.Duration
	for _, t := range times {
		out = append(out, t.Sub(start))
	}
	return out
}

func TestSchedulerRunsOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now() // midnight in the bubble
		every := &fakeTask{name: "sweep", schedule: "@every 1m"}
		cron := &fakeTask{name: "rotate", schedule: "*/5 * * * *"}
		var recs records
		s := &scheduler{log: slog.New(slog.DiscardHandler), record: recs.add}
		stop := startScheduler(s, mustEntries(t, every, cron), nil)
		time.Sleep(10*time.Minute + 30*time.Second)
		stop()
		assert.Equal(t, []time.Duration{1 * time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute,
			6 * time.Minute, 7 * time.Minute, 8 * time.Minute, 9 * time.Minute, 10 * time.Minute}, offsets(start, every.runs))
		assert.Equal(t, []time.Duration{5 * time.Minute, 10 * time.Minute}, offsets(start.Truncate(time.Hour), cron.runs))
		assert.Len(t, recs.get(), 12)
	})
}

// A run longer than the interval never overlaps the next: the slots that
// come while it runs are skipped, and each skip is logged and counted.
func TestSchedulerNeverOverlapsATask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		slow := &fakeTask{name: "sweep", schedule: "@every 1m", run: func(ctx context.Context, _ bool) (taskResult, error) {
			select {
			case <-time.After(150 * time.Second):
			case <-ctx.Done():
			}
			return taskResult{}, ctx.Err()
		}}
		var skips []skip
		var logs syncBuffer
		s := &scheduler{log: slog.New(slog.NewTextHandler(&logs, nil)), skipped: func(k skip) { skips = append(skips, k) }}
		stop := startScheduler(s, mustEntries(t, slow), nil)
		time.Sleep(10*time.Minute + 30*time.Second)
		stop()
		assert.False(t, slow.overlap)
		// Slots every minute; each 2m30s run covers the next two.
		assert.Equal(t, []time.Duration{1 * time.Minute, 4 * time.Minute, 7 * time.Minute, 10 * time.Minute}, offsets(start, slow.runs))
		var skipped []time.Duration
		for _, k := range skips {
			assert.Equal(t, skipBusy, k.Reason)
			assert.Equal(t, "sweep", k.Name)
			skipped = append(skipped, k.Slot.Sub(start))
		}
		assert.Equal(t, []time.Duration{2 * time.Minute, 3 * time.Minute, 5 * time.Minute, 6 * time.Minute, 8 * time.Minute, 9 * time.Minute}, skipped)
		assert.Equal(t, 6, strings.Count(logs.String(), "skipped: the previous run is still going"), logs.String())
	})
}

func TestSchedulerJitterAndRunAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		task := &fakeTask{name: "sweep", schedule: "@every 1h"}
		var asked []time.Duration
		s := &scheduler{
			log: slog.New(slog.DiscardHandler), jitter: 10 * time.Minute, runAtStart: true,
			randN: func(n time.Duration) time.Duration { asked = append(asked, n); return 7 * time.Minute },
		}
		stop := startScheduler(s, mustEntries(t, task), nil)
		time.Sleep(3 * time.Hour)
		stop()
		// At start (no jitter), then each hourly slot plus 7m.
		assert.Equal(t, []time.Duration{0, 67 * time.Minute, 127 * time.Minute}, offsets(start, task.runs))
		assert.Equal(t, 10*time.Minute, asked[0])
	})
}

// Stopping the scheduler stops the run in progress at a safe point and
// waits for it; its record says it was stopped.
func TestSchedulerStopCancelsRunInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		task := &fakeTask{name: "sweep", schedule: "@every 1m", run: func(ctx context.Context, _ bool) (taskResult, error) {
			<-ctx.Done()
			return taskResult{Lines: []string{"deleted 3 files"}}, ctx.Err()
		}}
		var recs records
		s := &scheduler{log: slog.New(slog.DiscardHandler), record: recs.add}
		stop := startScheduler(s, mustEntries(t, task), nil)
		time.Sleep(90 * time.Second)
		stop()
		got := recs.get()
		require.Len(t, got, 1)
		assert.True(t, got[0].Canceled)
		assert.Equal(t, []string{"deleted 3 files"}, got[0].Lines)
	})
}

// A reload replaces the schedules at once; a run of the old config still
// in progress finishes and a new run of the same task waits for it.
func TestSchedulerReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		long := &fakeTask{name: "sweep", schedule: "@every 1m", run: func(ctx context.Context, _ bool) (taskResult, error) {
			time.Sleep(270 * time.Second)
			return taskResult{}, nil
		}}
		hourly := &fakeTask{name: "rotate", schedule: "@every 1h"}
		var recs records
		s := &scheduler{log: slog.New(slog.DiscardHandler), record: recs.add}
		reload := make(chan []entry)
		stop := startScheduler(s, mustEntries(t, long, hourly), reload)
		time.Sleep(2 * time.Minute) // long runs from 1m to 5m30s
		fast := &fakeTask{name: "sweep", schedule: "@every 2m"}
		reload <- mustEntries(t, fast)
		time.Sleep(9 * time.Minute) // now 11m
		stop()
		assert.Len(t, long.runs, 1, "the old schedule stopped")
		assert.Empty(t, hourly.runs, "rotate left the config")
		// fast fires at 4m (skipped: long still runs), 6m, 8m, 10m.
		assert.Equal(t, []time.Duration{6 * time.Minute, 8 * time.Minute, 10 * time.Minute}, offsets(start, fast.runs))
		assert.False(t, long.overlap || fast.overlap)
		assert.Len(t, recs.get(), 4)
	})
}

func TestNewEntriesDefaultsAndErrors(t *testing.T) {
	entries, err := newEntries([]task{&fakeTask{name: "rotate"}})
	require.NoError(t, err)
	assert.Equal(t, "@hourly", entries[0].spec)
	_, err = newEntries([]task{&fakeTask{name: "sweep", schedule: "61 * * * *"}})
	assert.ErrorContains(t, err, `sweep.schedule: bad schedule "61 * * * *"`)
}

// policyTask is a fake task with a job's overlap policy.
type policyTask struct {
	*fakeTask
	overlap string
}

func (p policyTask) Overlap() string       { return p.overlap }
func (p policyTask) Jitter() time.Duration { return 0 }

// overlap: queue runs one due run after the one still going, and skips
// (logs and counts) the slots that find one already waiting.
func TestSchedulerOverlapQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		slow := &fakeTask{name: "backup", schedule: "@every 1m", run: func(ctx context.Context, _ bool) (taskResult, error) {
			select {
			case <-time.After(130 * time.Second):
			case <-ctx.Done():
			}
			return taskResult{}, ctx.Err()
		}}
		var skips []time.Duration
		s := &scheduler{log: slog.New(slog.DiscardHandler), skipped: func(k skip) {
			assert.Equal(t, skipQueued, k.Reason)
			skips = append(skips, k.Slot.Sub(start))
		}}
		stop := startScheduler(s, mustEntries(t, policyTask{slow, "queue"}), nil)
		time.Sleep(10*time.Minute + 30*time.Second)
		stop()
		assert.False(t, slow.overlap)
		// 1m runs to 3m10s; the 2m slot waits and runs then; and so on.
		assert.Equal(t, []time.Duration{60 * time.Second, 190 * time.Second, 320 * time.Second, 450 * time.Second, 580 * time.Second}, offsets(start, slow.runs))
		assert.Equal(t, []time.Duration{3 * time.Minute, 5 * time.Minute, 7 * time.Minute, 9 * time.Minute}, skips)
	})
}

// overlap: kill stops the run still going and starts the due one; the
// stopped run's record says it was stopped and why.
func TestSchedulerOverlapKill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		hang := &fakeTask{name: "sync", schedule: "@every 1m", run: func(ctx context.Context, _ bool) (taskResult, error) {
			<-ctx.Done()
			return taskResult{}, context.Cause(ctx)
		}}
		var recs records
		s := &scheduler{log: slog.New(slog.DiscardHandler), record: recs.add, skipped: func(k skip) { t.Errorf("skipped %v", k) }}
		stop := startScheduler(s, mustEntries(t, policyTask{hang, "kill"}), nil)
		time.Sleep(5*time.Minute + 30*time.Second)
		stop()
		assert.False(t, hang.overlap, "the old run ended before the new one started")
		assert.Equal(t, []time.Duration{1 * time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute}, offsets(start, hang.runs))
		got := recs.get()
		require.Len(t, got, 5)
		for _, r := range got[:4] {
			assert.True(t, r.Canceled)
			assert.Equal(t, []string{errReplaced.Error()}, r.Errors)
		}
		assert.Equal(t, []string{context.Canceled.Error()}, got[4].Errors, "the last one stopped with the scheduler")
	})
}

// A slot that passes while tend-cron waits (a jitter longer than the
// interval) is logged and counted, not lost in silence.
func TestSchedulerLateSlotsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		task := &fakeTask{name: "sweep", schedule: "@every 1m"}
		var skips []skip
		s := &scheduler{
			log: slog.New(slog.DiscardHandler), jitter: time.Hour,
			randN:   func(time.Duration) time.Duration { return 150 * time.Second },
			skipped: func(k skip) { skips = append(skips, k) },
		}
		stop := startScheduler(s, mustEntries(t, task), nil)
		time.Sleep(10 * time.Minute)
		stop()
		// The 1m slot runs at 3m30s; the 2m and 3m slots passed meanwhile;
		// the 4m slot runs at 6m30s, and so on.
		assert.Equal(t, []time.Duration{210 * time.Second, 390 * time.Second, 570 * time.Second}, offsets(start, task.runs))
		var late []time.Duration
		for _, k := range skips {
			assert.Equal(t, skipLate, k.Reason)
			late = append(late, k.Slot.Sub(start))
		}
		assert.Equal(t, []time.Duration{2 * time.Minute, 3 * time.Minute, 5 * time.Minute, 6 * time.Minute, 8 * time.Minute, 9 * time.Minute}, late)
	})
}
