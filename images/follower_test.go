package images_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
	"github.com/tendkit/tend/internal/testenv"
)

// A container run and removed between two runs (docker run --rm) leaves
// nothing in the listing; the follower records it, also across a
// reconnection, and the next plan keeps the image.
func TestFollowerRecordsRunRmAcrossReconnect(t *testing.T) {
	used := imagestest.Image([]string{"pytorch/pytorch:2.7"}, daysAgo(300), daysAgo(300), cuda("u", MiB))
	idle := imagestest.Image([]string{"pytorch/pytorch:2.6"}, daysAgo(300), daysAgo(300), cuda("i", MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{used, idle}})
	state := filepath.Join(t.TempDir(), "state.json")
	var logs testenv.Buffer
	f := &images.Follower{Engine: e, StateFile: state, FlushEvery: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, f.Run(runCtx)) })
	waitFor(t, func() bool { return f.Stats().Connects == 1 })

	e.Emit(images.Event{Time: time.Now(), Type: images.EventTypeContainer, Action: "create", Ref: "pytorch/pytorch:2.7", ImageID: used.ID})
	waitFor(t, func() bool { return f.Stats().Events == 1 })
	e.SetDown(true)
	// While it is away: a start it must catch up on after reconnecting.
	started := time.Now()
	e.Emit(images.Event{Time: started, Type: images.EventTypeContainer, Action: "start", Ref: "pytorch/pytorch:2.7", ImageID: used.ID})
	time.Sleep(50 * time.Millisecond)
	e.SetDown(false)
	waitFor(t, func() bool { return f.Stats().Connects >= 2 && f.Stats().Events >= 2 })
	stop()
	wg.Wait()
	assert.Contains(t, logs.String(), "stream lost")
	assert.Zero(t, f.Stats().Missed)

	p := &images.ImagePruner{Engine: e, StateFile: state, Policy: images.Policy{Match: []string{"*"}, UnusedFor: 24 * time.Hour}}
	plan, err := p.Plan(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"pytorch/pytorch:2.6"}, ids(plan.Removals))
	require.Len(t, plan.Kept, 1)
	assert.Equal(t, images.KeepReasonRecentlyUsed, plan.Kept[0].Code)
	assert.WithinDuration(t, started, plan.Kept[0].LastUsed, time.Millisecond)
}

// After a reconnection with more events than the engine keeps, the
// follower says it may have missed some.
func TestFollowerSaysWhenItMayHaveMissed(t *testing.T) {
	e := imagestest.New(imagestest.Set{})
	state := filepath.Join(t.TempDir(), "state.json")
	var logs testenv.Buffer
	f := &images.Follower{Engine: e, StateFile: state, FlushEvery: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(ctx) })
	waitFor(t, func() bool { return f.Stats().Connects == 1 })
	e.Emit(images.Event{Time: time.Now(), Type: "network", Action: "connect"})
	waitFor(t, func() bool { return !f.Stats().Last.IsZero() })
	e.SetDown(true) // away while more events than the engine keeps happen
	t0 := time.Now()
	for i := range 300 {
		e.Emit(images.Event{Time: t0.Add(time.Duration(i+1) * time.Microsecond), Type: "network", Action: "connect"})
	}
	e.SetDown(false)
	waitFor(t, func() bool { return f.Stats().Missed == 1 })
	cancel()
	wg.Wait()
	assert.Contains(t, logs.String(), "may have been missed")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
