package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// EventTypeMissed is an Event an EventSource sends when the engine's event
// buffer rolled over since the requested time: events between the
// requested time and Event.Time may be missing.
const EventTypeMissed EventType = "missed"

// replay applies the engine events since the state's cursor to the state
// (one Events call), so that uses between two runs count even when no
// Follower ran. The first run only sets the cursor. The engine's clock is
// the wall clock, not p.Now.
func (p *ImagePruner) replay(ctx context.Context, plan *Plan) error {
	src, ok := p.Engine.(EventSource)
	st := plan.st
	if !ok || p.StateFile == "" {
		return nil
	}
	until := time.Now()
	if st.EventsSeen.IsZero() {
		st.EventsSeen = until
		return nil
	}
	r := &EventsReplay{Since: st.EventsSeen, Until: until}
	plan.Calls.Events++
	err := src.Events(ctx, st.EventsSeen, until, func(ev Event) {
		switch {
		case ev.Type == EventTypeMissed:
			r.MayHaveMissed = true
		case ev.ImageID != "":
			r.Used++
			st.use(ev.ImageID, ev.Time)
		}
	})
	if err != nil {
		return fmt.Errorf("replay engine events since %s: %w", r.Since.Format(time.RFC3339), err)
	}
	plan.Events = r
	if r.MayHaveMissed {
		w := fmt.Sprintf("engine events since %s may have been missed (the engine keeps only its last events): uses of images by containers removed since are unknown; last tag times inspected afresh", r.Since.Format(time.RFC3339))
		p.log().Warn(w)
		plan.Warnings = append(plan.Warnings, w)
	}
	if until.After(st.EventsSeen) {
		st.EventsSeen = until
	}
	return nil
}

// Follower records image use from the engine's event stream in the state
// file that an ImagePruner reads, so that a container created, started or
// exec'd into and removed again between two runs (`docker run --rm`), or an
// image pulled, tagged, imported or loaded, counts as a use.
//
// Run follows the stream until its context ends. When the connection
// breaks (the engine restarts) it reconnects with growing pauses and
// replays from the last event it saw; the engine keeps only its last
// events (Docker: 256), so when more happened while it was away it logs a
// warning saying so and counts it in Stats. Uses are written at most every
// FlushEvery, under the state file's lock and merged with what the pruner
// wrote, and once more when Run returns.
type Follower struct {
	// Engine is the event source (dockerengine.Engine).
	Engine EventSource
	// StateFile is the pruner's state file; required.
	StateFile string
	// Logger receives reconnections and possible misses; nil discards.
	Logger *slog.Logger
	// FlushEvery is how often recorded uses are written (0 = 1s).
	FlushEvery time.Duration
	// RetryMax caps the pause between reconnections (0 = 30s).
	RetryMax time.Duration

	mu      sync.Mutex
	pending map[string]time.Time
	cursor  time.Time
	stats   FollowerStats
}

// FollowerStats counts what a Follower did, for metrics.
type FollowerStats struct {
	// Events is the events that marked an image as used.
	Events int `json:"events"`
	// Connects is the subscriptions made (1 + reconnections).
	Connects int `json:"connects"`
	// Missed is the times events may have been missed.
	Missed int `json:"missed"`
	// Flushes is the state file writes; FlushErrors those that failed.
	Flushes     int `json:"flushes"`
	FlushErrors int `json:"flush_errors"`
	// Last is the time of the last event seen.
	Last time.Time `json:"last,omitzero"`
}

// Stats returns the counts so far.
func (f *Follower) Stats() FollowerStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

func (f *Follower) log() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Run follows the events until ctx ends, then writes what it recorded and
// returns nil; it returns an error only when it cannot start (no state
// file, or one it cannot read).
func (f *Follower) Run(ctx context.Context) error {
	if f.StateFile == "" {
		return errors.New("images follower: no state file")
	}
	if f.Engine == nil {
		return errors.New("images follower: no engine")
	}
	st, warn, err := loadState(f.StateFile)
	if err != nil {
		return fmt.Errorf("images follower: %w", err)
	}
	if warn != "" {
		f.log().Warn(warn)
	}
	f.mu.Lock()
	f.pending = map[string]time.Time{}
	f.cursor = st.EventsSeen
	if f.cursor.IsZero() {
		f.cursor = time.Now()
	}
	f.mu.Unlock()

	flushEvery := f.FlushEvery
	if flushEvery <= 0 {
		flushEvery = time.Second
	}
	var wg sync.WaitGroup
	stopFlush := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-stopFlush:
				return
			case <-t.C:
				f.flush()
			}
		}
	})
	defer func() {
		close(stopFlush)
		wg.Wait()
		f.flush()
	}()

	retryMax := f.RetryMax
	if retryMax <= 0 {
		retryMax = 30 * time.Second
	}
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		f.mu.Lock()
		since := f.cursor
		f.stats.Connects++
		connects := f.stats.Connects
		f.mu.Unlock()
		if connects > 1 {
			f.log().Info("engine events: reconnecting", "since", since.Format(time.RFC3339Nano))
		}
		started := time.Now()
		err := f.Engine.Events(ctx, since, time.Time{}, f.record)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > retryMax {
			pause = 100 * time.Millisecond // it ran a while: start again from short pauses
		}
		f.log().Warn("engine events: stream lost, will reconnect and catch up", "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, retryMax)
	}
	return nil
}

// record takes one event.
func (f *Follower) record(ev Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev.Type == EventTypeMissed {
		f.stats.Missed++
		f.log().Warn("engine events may have been missed (the engine keeps only its last events): uses of images by containers created and removed meanwhile are unknown",
			"since", f.cursor.Format(time.RFC3339Nano), "until", ev.Time.Format(time.RFC3339Nano))
		return
	}
	if ev.Time.After(f.cursor) {
		f.cursor = ev.Time
	}
	if ev.Time.After(f.stats.Last) {
		f.stats.Last = ev.Time
	}
	if ev.ImageID == "" {
		return
	}
	f.stats.Events++
	if ev.Time.After(f.pending[ev.ImageID]) {
		f.pending[ev.ImageID] = ev.Time
	}
}

// flush merges the recorded uses and the cursor into the state file.
func (f *Follower) flush() {
	f.mu.Lock()
	pending, cursor := f.pending, f.cursor
	f.pending = map[string]time.Time{}
	f.mu.Unlock()
	err := withStateLock(f.StateFile, func() error {
		st, warn, err := loadState(f.StateFile)
		if err != nil {
			return err
		}
		if warn != "" {
			f.log().Warn(warn)
		}
		if len(pending) == 0 && !cursor.After(st.EventsSeen) {
			return nil
		}
		for id, t := range pending {
			st.use(id, t)
		}
		if cursor.After(st.EventsSeen) {
			st.EventsSeen = cursor
		}
		return writeState(f.StateFile, st)
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.Flushes++
	if err != nil {
		f.stats.FlushErrors++
		for id, t := range pending { // keep them for the next flush
			if t.After(f.pending[id]) {
				f.pending[id] = t
			}
		}
		f.log().Error("images follower: state not written", "err", err)
	}
}
