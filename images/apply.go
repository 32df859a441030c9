package images

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-multierror"
)

// Report is what Apply did, in the plan's shape.
type Report struct {
	// Plan is the plan carried out.
	Plan *Plan `json:"plan"`
	// Removed, Skipped and Failed partition the plan's removals.
	Removed []Outcome `json:"removed"`
	Skipped []Outcome `json:"skipped,omitempty"`
	Failed  []Outcome `json:"failed,omitempty"`
	// PlannedBytes is the plan's Bytes; FreedBytes what the engine reported
	// deleting (the sizes of the layers it listed as deleted).
	PlannedBytes int64 `json:"planned_bytes"`
	FreedBytes   int64 `json:"freed_bytes"`
	// BuildCache is the build cache pruning, when the policy asks for it.
	BuildCache *BuildCacheResult `json:"build_cache,omitempty"`
}

// Outcome is what became of one planned removal.
type Outcome struct {
	Removal Removal `json:"removal"`
	// Freed is the bytes of the layers the engine deleted for it.
	Freed int64 `json:"freed"`
	// Code is why it was skipped, for programs; Note says why in words, or
	// how it failed.
	Code SkipReason `json:"code,omitempty"`
	Note string     `json:"note,omitempty"`
	// Untagged and Deleted are the engine's answer.
	Untagged []string `json:"untagged,omitempty"`
	Deleted  []string `json:"deleted,omitempty"`
}

// BuildCacheResult is the build cache pruning's outcome.
type BuildCacheResult struct {
	Keep  int64 `json:"keep"`
	Freed int64 `json:"freed"`
	// Note says why nothing was done (an engine without a build cache).
	Note string `json:"note,omitempty"`
}

// Apply carries out plan and then records in the state file what the plan
// observed (last uses, image details, the event cursor): each removal is re-checked just before it is
// made (containers created from the image since the plan) and never
// forced; a conflict or a missing image is a skip with its reason. Errors of
// individual removals are collected and the rest go on.
func (p *ImagePruner) Apply(ctx context.Context, plan *Plan) (*Report, error) {
	log := p.log()
	rep := &Report{Plan: plan, Removed: []Outcome{}, PlannedBytes: plan.Bytes}
	var errs *multierror.Error
	counted := map[string]bool{}
	for _, r := range plan.Removals {
		if err := ctx.Err(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("remove images: %w", err))
			break
		}
		o := Outcome{Removal: r}
		if code, skip, err := p.recheck(ctx, r); err != nil {
			o.Note = err.Error()
			rep.Failed = append(rep.Failed, o)
			errs = multierror.Append(errs, err)
			continue
		} else if skip != "" {
			o.Code, o.Note = code, skip
			rep.Skipped = append(rep.Skipped, o)
			log.Info("image skipped", "id", shortID(r.ID), "tags", r.RepoTags, "reason", skip)
			continue
		}
		res, err := p.Engine.Remove(ctx, r.image)
		o.Untagged, o.Deleted = res.Untagged, res.Deleted
		switch {
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
			o.Code, o.Note = SkipReasonConflict, err.Error()
			if errors.Is(err, ErrNotFound) {
				o.Code = SkipReasonGone
			}
			rep.Skipped = append(rep.Skipped, o)
			log.Info("image skipped", "id", shortID(r.ID), "tags", r.RepoTags, "reason", o.Note)
			continue
		case err != nil:
			o.Note = err.Error()
			rep.Failed = append(rep.Failed, o)
			errs = multierror.Append(errs, fmt.Errorf("remove image %s %v: %w", shortID(r.ID), r.RepoTags, err))
			continue
		}
		for _, id := range res.Deleted {
			if size, ok := plan.layers[id]; ok && !counted[id] {
				counted[id] = true
				o.Freed += size
			}
		}
		rep.FreedBytes += o.Freed
		rep.Removed = append(rep.Removed, o)
		if plan.st != nil {
			plan.st.drop(r.ID)
		}
		log.Info("image removed", "id", shortID(r.ID), "tags", r.RepoTags, "planned", r.Bytes, "freed", o.Freed)
	}
	if keep := plan.Policy.BuildCacheKeep; keep != nil && ctx.Err() == nil {
		bc := &BuildCacheResult{Keep: *keep}
		freed, err := p.Engine.PruneBuildCache(ctx, *keep)
		bc.Freed = freed
		switch {
		case errors.Is(err, ErrNotSupported):
			bc.Note = err.Error()
			log.Info("build cache not pruned", "reason", bc.Note)
		case err != nil:
			bc.Note = err.Error()
			errs = multierror.Append(errs, fmt.Errorf("prune build cache: %w", err))
		}
		rep.BuildCache = bc
	}
	if plan.st != nil {
		if err := plan.st.save(p.StateFile, log); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	return rep, errs.ErrorOrNil()
}

// recheck asks the engine, just before a removal, whether a container was
// created from the image since the plan.
func (p *ImagePruner) recheck(ctx context.Context, r Removal) (code SkipReason, skip string, err error) {
	cs, err := p.Engine.Containers(ctx, r.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		return SkipReasonGone, "image already gone", nil
	case err != nil:
		return "", "", fmt.Errorf("re-check image %s: %w", shortID(r.ID), err)
	case len(cs) > 0:
		return SkipReasonInUse, inUse(cs) + ", created since planning", nil
	}
	return "", "", nil
}
