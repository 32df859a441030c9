package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/units"
)

// imagesTask runs an images.ImagePruner on the Docker engine, built from
// the config's images section.
type imagesTask struct {
	schedule string
	engine   dockerengine.Options
	pruner   images.ImagePruner
	// timeout bounds one run.
	timeout time.Duration
	// followEvents: in scheduler mode, follow the engine's events.
	followEvents bool
	log          *slog.Logger
	// newEngine opens the engine for one run (tests replace it).
	newEngine func(dockerengine.Options) (images.Engine, func(), error)

	mu       sync.Mutex
	follower *images.Follower
	reported images.FollowerStats // follower counts already in a run's metrics
}

// defaultImagesTimeout bounds a run when images.timeout is not set.
const defaultImagesTimeout = 30 * time.Minute

// newImagesTask turns cfg.Images into an images.Policy; ok is false when
// the config has no images section. It does not contact the daemon.
func newImagesTask(cfg *config.Config, log *slog.Logger) (task, bool, error) {
	if cfg == nil || cfg.Images == nil {
		return nil, false, nil
	}
	ic := cfg.Images
	pol := ic.Policy()
	if err := pol.Validate(); err != nil {
		return nil, false, fmt.Errorf("images: %w", err)
	}
	sched := ic.Schedule
	if sched == "" {
		sched = "0 2 * * 1"
	}
	timeout := ic.Timeout.D()
	if timeout == 0 {
		timeout = defaultImagesTimeout
	}
	follow := ic.State != ""
	if ic.FollowEvents != nil {
		follow = *ic.FollowEvents && ic.State != ""
	}
	return &imagesTask{
		schedule:     sched,
		engine:       dockerengine.Options{Host: ic.Host, DiskPath: string(ic.DiskPath), CallTimeout: ic.CallTimeout.D()},
		pruner:       images.ImagePruner{Policy: pol, StateFile: string(ic.State), Logger: log},
		timeout:      timeout,
		followEvents: follow,
		log:          log,
		newEngine:    openDocker,
	}, true, nil
}

// openDocker opens the Docker engine.
func openDocker(o dockerengine.Options) (images.Engine, func(), error) {
	e, err := dockerengine.New(o)
	if err != nil {
		return nil, nil, err
	}
	return e, func() { e.Close() }, nil
}

func (t *imagesTask) Name() string     { return "images" }
func (t *imagesTask) Schedule() string { return t.schedule }

// Run plans (dryRun: the plan is the report) or prunes once, within the
// task's timeout.
func (t *imagesTask) Run(ctx context.Context, dryRun bool) (taskResult, error) {
	res, err := t.run(ctx, dryRun)
	if !dryRun {
		t.followerMetrics(res.Metrics)
	}
	return res, err
}

func (t *imagesTask) run(ctx context.Context, dryRun bool) (taskResult, error) {
	failed := taskResult{Metrics: map[string]float64{"images_removed": 0, "bytes_freed": 0, "errors": 1}}
	ctx, cancel := context.WithTimeoutCause(ctx, t.timeout, fmt.Errorf("images: the run did not finish within %v (images.timeout)", t.timeout))
	defer cancel()
	eng, closeEngine, err := t.newEngine(t.engine)
	if err != nil {
		failed.Lines = []string{"images: error: " + err.Error()}
		return failed, err
	}
	defer closeEngine()
	p := t.pruner
	p.Engine = eng
	plan, err := p.Plan(ctx)
	if err != nil {
		err = timedOut(ctx, err)
		failed.Lines = []string{"images: error: " + err.Error()}
		return failed, err
	}
	if dryRun {
		return taskResult{Report: plan, Lines: planLines(plan), Metrics: map[string]float64{
			"images_removed": 0, "bytes_freed": 0, "errors": 0}}, nil
	}
	rep, err := p.Apply(ctx, plan)
	if err != nil {
		err = timedOut(ctx, err)
	}
	return taskResult{Report: rep, Lines: reportLines(rep), Metrics: map[string]float64{
		"images_removed": float64(len(rep.Removed)),
		"bytes_freed":    float64(rep.FreedBytes),
		"errors":         float64(len(rep.Failed) + otherErrors(rep, err)),
	}}, err
}

// timedOut names the run's timeout when it is what ended err.
func timedOut(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, cause) {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// otherErrors counts an error not tied to one image (build cache, state
// file, cancellation) as one.
func otherErrors(rep *images.Report, err error) int {
	if err != nil && len(rep.Failed) == 0 {
		return 1
	}
	return 0
}

// planLines is the dry run's summary: what would go, what stays and why.
func planLines(plan *images.Plan) []string {
	lines := []string{fmt.Sprintf("images: would remove %d images, %s (of %d images, %d containers; %d engine calls)",
		len(plan.Removals), units.Size(plan.Bytes).Human(), plan.Images, plan.Containers, plan.Calls.Total())}
	for _, w := range plan.Warnings {
		lines = append(lines, "  warning: "+w)
	}
	lines = append(lines, diskLine(plan)...)
	for _, r := range plan.Removals {
		lines = append(lines, fmt.Sprintf("  remove %s %s: %s", shortImage(r.ID, r.RepoTags), units.Size(r.Bytes).Human(), r.Reason))
	}
	for _, k := range plan.Kept {
		lines = append(lines, fmt.Sprintf("  keep %s: %s", shortImage(k.ID, k.RepoTags), k.Reason))
	}
	if k := plan.Policy.BuildCacheKeep; k != nil {
		lines = append(lines, fmt.Sprintf("  would prune the build cache down to %s", units.Size(*k).Human()))
	}
	return lines
}

// reportLines is the real run's summary, planned next to freed bytes.
func reportLines(rep *images.Report) []string {
	lines := []string{fmt.Sprintf("images: removed %d images, freed %s (planned %s), skipped %d, failed %d",
		len(rep.Removed), units.Size(rep.FreedBytes).Human(), units.Size(rep.PlannedBytes).Human(), len(rep.Skipped), len(rep.Failed))}
	for _, w := range rep.Plan.Warnings {
		lines = append(lines, "  warning: "+w)
	}
	lines = append(lines, diskLine(rep.Plan)...)
	for _, o := range rep.Removed {
		lines = append(lines, fmt.Sprintf("  removed %s %s", shortImage(o.Removal.ID, o.Removal.RepoTags), units.Size(o.Freed).Human()))
	}
	for _, o := range rep.Skipped {
		lines = append(lines, fmt.Sprintf("  skipped %s: %s", shortImage(o.Removal.ID, o.Removal.RepoTags), o.Note))
	}
	for _, o := range rep.Failed {
		lines = append(lines, fmt.Sprintf("  error: %s: %s", shortImage(o.Removal.ID, o.Removal.RepoTags), o.Note))
	}
	if bc := rep.BuildCache; bc != nil {
		l := fmt.Sprintf("  build cache: freed %s (keep %s)", units.Size(bc.Freed).Human(), units.Size(bc.Keep).Human())
		if bc.Note != "" {
			l += "; " + bc.Note
		}
		lines = append(lines, l)
	}
	return lines
}

func diskLine(plan *images.Plan) []string {
	if plan == nil || plan.Disk == nil {
		return nil
	}
	d := plan.Disk
	return []string{fmt.Sprintf("  image disk %.1f%% used (high %v%%, low %v%%): need %s", d.Percent, d.High, d.Low, units.Size(d.Need).Human())}
}

// shortImage names an image by its tags, or its short ID when dangling.
func shortImage(id string, tags []string) string {
	if len(tags) > 0 {
		return fmt.Sprint(tags)
	}
	if len(id) > 19 {
		return id[7:19]
	}
	return id
}

// follow runs the images task's event follower until ctx ends, when the
// config asks for it (scheduler mode, a state file): `docker run --rm`
// jobs between two runs then count as uses. It returns at once otherwise.
// A follower that cannot start is logged; the runs go on without it.
func (t *imagesTask) follow(ctx context.Context) {
	if !t.followEvents {
		return
	}
	eng, closeEngine, err := t.newEngine(t.engine)
	if err != nil {
		t.logger().Error("images: not following engine events", "err", err)
		return
	}
	defer closeEngine()
	src, ok := eng.(images.EventSource)
	if !ok {
		t.logger().Warn("images: the engine reports no events; last use is what each run sees")
		return
	}
	f := &images.Follower{Engine: src, StateFile: t.pruner.StateFile, Logger: t.log}
	t.mu.Lock()
	t.follower = f
	t.mu.Unlock()
	t.logger().Info("images: following engine events", "state", t.pruner.StateFile)
	if err := f.Run(ctx); err != nil {
		t.logger().Error("images: not following engine events", "err", err)
	}
}

// followerMetrics adds the follower's counts since the last run to m:
// image_events (uses recorded), image_events_missed (times events may have
// been missed), image_events_reconnects.
func (t *imagesTask) followerMetrics(m map[string]float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.follower == nil || m == nil {
		return
	}
	s := t.follower.Stats()
	m["image_events"] = float64(s.Events - t.reported.Events)
	m["image_events_missed"] = float64(s.Missed - t.reported.Missed)
	m["image_events_reconnects"] = float64(max(0, s.Connects-1) - max(0, t.reported.Connects-1))
	t.reported = s
}

func (t *imagesTask) logger() *slog.Logger {
	if t.log != nil {
		return t.log
	}
	return slog.New(slog.DiscardHandler)
}

// startFollowers starts the event followers of the tasks that have one
// (scheduler mode; none in a dry run, which writes nothing) and returns a
// function that waits for them to end after ctx does.
func startFollowers(ctx context.Context, tasks []task, dryRun bool) (wait func()) {
	var wg sync.WaitGroup
	for _, t := range tasks {
		if dryRun {
			break
		}
		if it, ok := t.(*imagesTask); ok {
			wg.Go(func() { it.follow(ctx) })
		}
	}
	return wg.Wait
}
