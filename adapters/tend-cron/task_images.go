package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/internal/units"
)

// imagesTask runs an images.ImagePruner on the Docker engine, built from
// the config's images section.
type imagesTask struct {
	schedule string
	engine   dockerengine.Options
	pruner   images.ImagePruner
	// newEngine opens the engine for one run (tests replace it).
	newEngine func(dockerengine.Options) (images.Engine, func(), error)
}

// newImagesTask turns cfg.Images into an images.Policy; ok is false when
// the config has no images section. It does not contact the daemon.
func newImagesTask(cfg *config.Config, log *slog.Logger) (task, bool, error) {
	if cfg == nil || cfg.Images == nil {
		return nil, false, nil
	}
	ic := cfg.Images
	pol := images.Policy{
		Match: ic.Match, Labels: ic.Labels, KeepLatest: ic.KeepLatest, UnusedFor: ic.UnusedFor.D(),
		ProtectTags: ic.ProtectTags, ProtectLabels: ic.ProtectLabels, Dangling: ic.Dangling,
	}
	if ic.BuildCacheKeep != nil {
		keep := ic.BuildCacheKeep.Bytes()
		pol.BuildCacheKeep = &keep
	}
	if ic.DiskHigh != nil {
		pol.DiskHigh = float64(*ic.DiskHigh)
	}
	if ic.DiskLow != nil {
		pol.DiskLow = float64(*ic.DiskLow)
	}
	if err := pol.Validate(); err != nil {
		return nil, false, fmt.Errorf("images: %w", err)
	}
	sched := ic.Schedule
	if sched == "" {
		sched = "0 2 * * 1"
	}
	return &imagesTask{
		schedule:  sched,
		engine:    dockerengine.Options{Host: ic.Host, DiskPath: string(ic.DiskPath)},
		pruner:    images.ImagePruner{Policy: pol, StateFile: string(ic.State), Logger: log},
		newEngine: openDocker,
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

// Run plans (dryRun: the plan is the report) or prunes once.
func (t *imagesTask) Run(ctx context.Context, dryRun bool) (taskResult, error) {
	failed := taskResult{Metrics: map[string]float64{"images_removed": 0, "bytes_freed": 0, "errors": 1}}
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
		failed.Lines = []string{"images: error: " + err.Error()}
		return failed, err
	}
	if dryRun {
		return taskResult{Report: plan, Lines: planLines(plan), Metrics: map[string]float64{
			"images_removed": 0, "bytes_freed": 0, "errors": 0}}, nil
	}
	rep, err := p.Apply(ctx, plan)
	return taskResult{Report: rep, Lines: reportLines(rep), Metrics: map[string]float64{
		"images_removed": float64(len(rep.Removed)),
		"bytes_freed":    float64(rep.FreedBytes),
		"errors":         float64(len(rep.Failed) + otherErrors(rep, err)),
	}}, err
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
