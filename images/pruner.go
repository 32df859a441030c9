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
// Plan lists the images and containers (two engine calls, whatever the
// number of images), fills in what the listing lacks (layers and last tag
// time: one ImageDetail per image not already in the state file, so a
// steady-state run makes no extra call), and decides, for each image the
// policy selects (Match globs over tagged images, Dangling for untagged ones,
// all within Labels), whether it stays and why: used by any container,
// running or stopped; protected by a tag or a label; among the KeepLatest
// most recently used of its repository; used within UnusedFor. Last use is
// the newest of: now, when a running container uses the image; the creation
// time of any container from it; the image's last tag or pull on this host;
// and the last use remembered in the state file, which Plan updates
// (atomically: temporary file, fsync, rename). Build time counts only when
// nothing else is known.
//
// The removals are ordered least recently used first. Their bytes come from
// the layer graph: a layer is freed when the last image referencing it goes,
// so shared CUDA base layers count once, and only when every image on them
// is removed. With DiskHigh set, nothing is removed unless the image file
// system is more than DiskHigh full, and removals stop once it would be
// below DiskLow.
//
// Apply carries out a plan: before each removal it asks the engine again
// for containers created from the image since the plan, and the removal
// itself is never forced, so an image that gained a container is skipped
// with the reason (as is one already gone), never removed. The report puts
// the planned bytes next to those the engine says it deleted. A dry run is
// the plan: Apply reports in the same shape.
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
