package images

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// ImagePruner removes images that a Policy selects, knowing exactly how many
// bytes it frees and never removing an image a container uses.
//
// Plan lists the images (intermediate build images included, with their
// parents) and containers: two engine calls, whatever the number of images.
// It replays the engine's events since the last run when the engine has
// them (EventSource) and the state file holds a cursor: one more call. It
// fills in what the listing lacks (layers and last tag time: one
// ImageDetail per image whose tags, build time or parent changed since the
// state file cached it, at most Concurrency at a time), and decides, for
// each image the policy selects (Match globs over tagged images, Dangling
// for untagged ones, all within Labels), whether it stays and why (Kept.Code
// and Kept.Reason): used by any container, running or stopped; protected by
// a tag or a label; among the KeepLatest newest of its repository (by build
// time, or by last use with KeepLatestBy "used"); used within UnusedFor; the
// parent of an image that stays (the engine refuses to remove a parent
// before its children). Last use is the newest of: now, when a running
// container uses the image; the creation time of any container from it; the
// image's last tag or pull on this host; the engine events that used it
// (container create, start, exec; image pull, tag, import, load), replayed
// by Plan or recorded by a Follower; and the last use remembered in the
// state file. Build time counts only when nothing else is known. Plan only
// reads: a dry run writes nothing. A corrupt state file is rebuilt, with a
// warning in the plan and the log.
//
// The removals are ordered least recently used first, each image after the
// images built on it. Their bytes come from the layer graph: a layer is
// freed when the last image referencing it goes, so shared CUDA base layers
// count once, and only when every image on them is removed. With DiskHigh
// set, nothing is removed unless the image file system is more than DiskHigh
// full, and removals stop once it would be below DiskLow.
//
// Apply carries out a plan: before each removal it asks the engine again
// for containers created from the image since the plan, and the removal
// itself is never forced, so an image that gained a container (or a child)
// is skipped with the reason (as is one already gone), never removed. The
// report puts the planned bytes next to those the engine says it deleted.
// Apply then records what the plan observed in the state file (atomically,
// merged under a lock with a Follower's writes). Every engine call honours
// ctx; the Docker engine also bounds each request (dockerengine.Options).
type ImagePruner struct {
	// Engine is the container engine (package images/dockerengine for Docker).
	Engine Engine
	// Policy selects the images to remove.
	Policy Policy
	// StateFile keeps last use and image details between runs; "" keeps none.
	StateFile string
	// Logger receives one line per removal and skip; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Concurrency bounds the image inspections in flight (0 = 4).
	Concurrency int
}

func (p *ImagePruner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *ImagePruner) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Prune plans and applies in one go.
func (p *ImagePruner) Prune(ctx context.Context) (*Report, error) {
	plan, err := p.Plan(ctx)
	if err != nil {
		return nil, err
	}
	return p.Apply(ctx, plan)
}
