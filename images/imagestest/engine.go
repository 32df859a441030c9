// Package imagestest provides an in-memory images.Engine and realistic image
// sets (PyTorch images on shared CUDA base layers) for tests of code that
// uses package images.
package imagestest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tendkit/tend/images"
)

// Engine is an in-memory images.Engine that behaves like Docker where the
// pruner cares: removal is refused (images.ErrConflict) while a container
// uses the image, a layer is deleted when the last image on it goes, and
// Remove answers with the image and layer IDs deleted. It is safe for
// concurrent use.
type Engine struct {
	// Total and BaseUsed size the image file system for Usage: Used is
	// BaseUsed plus the bytes of the stored layers.
	Total, BaseUsed int64
	// BuildCache is the build cache's size; NoBuildCache makes
	// PruneBuildCache answer images.ErrNotSupported, as Podman does.
	BuildCache   int64
	NoBuildCache bool
	// OmitLayers lists images without layers, so the pruner must call
	// ImageDetail, as it must with Docker.
	OmitLayers bool
	// BeforeRemove, when set, runs before each Remove (outside the lock):
	// tests use it to create a container in the race window.
	BeforeRemove func(img images.Image)
	// BeforeDetail, when set, runs before each ImageDetail (outside the
	// lock): tests use it to remove an image between listing and
	// inspection, as a concurrent `docker rmi` does.
	BeforeDetail func(img images.Image)

	mu         sync.Mutex
	images     []images.Image
	containers []images.Container
	calls      map[string]int
	events     []images.Event
	cut        chan struct{}
	down       bool
}

// New returns an engine holding set.
func New(set Set) *Engine {
	e := &Engine{Total: 1 << 40, calls: map[string]int{}}
	for _, im := range set.Images {
		e.AddImage(im)
	}
	for _, c := range set.Containers {
		e.AddContainer(c)
	}
	return e
}

// AddImage stores an image (replacing one with the same ID).
func (e *Engine) AddImage(im images.Image) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.images = slices.DeleteFunc(e.images, func(x images.Image) bool { return x.ID == im.ID })
	e.images = append(e.images, im)
}

// AddContainer stores a container.
func (e *Engine) AddContainer(c images.Container) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.containers = append(e.containers, c)
}

// HasImage reports whether the image is still stored.
func (e *Engine) HasImage(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.ContainsFunc(e.images, func(x images.Image) bool { return x.ID == id })
}

// LayerBytes returns the bytes of all stored layers, each counted once.
func (e *Engine) LayerBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.layerBytes()
}

func (e *Engine) layerBytes() int64 {
	seen := map[string]bool{}
	var n int64
	for _, im := range e.images {
		for _, l := range im.Layers {
			if !seen[l.ID] {
				seen[l.ID] = true
				n += l.Size
			}
		}
	}
	return n
}

// Calls returns how many times each method was called.
func (e *Engine) Calls() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.calls {
		out[k] = v
	}
	return out
}

func (e *Engine) count(name string) {
	if e.calls == nil {
		e.calls = map[string]int{}
	}
	e.calls[name]++
}

// Images implements images.Engine.
func (e *Engine) Images(ctx context.Context) ([]images.Image, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count("Images")
	out := make([]images.Image, len(e.images))
	for i, im := range e.images {
		im.RepoTags = slices.Clone(im.RepoTags)
		if e.OmitLayers {
			im.Layers, im.LastTagTime = nil, images.Image{}.LastTagTime
		}
		out[i] = im
	}
	return out, ctx.Err()
}

// Containers implements images.Engine.
func (e *Engine) Containers(ctx context.Context, imageID string) ([]images.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count("Containers")
	var out []images.Container
	parents := map[string]string{}
	for _, im := range e.images {
		if im.ParentID != "" {
			parents[im.ID] = im.ParentID
		}
	}
	for _, c := range e.containers {
		if imageID == "" || descends(parents, c.ImageID, imageID) {
			out = append(out, c)
		}
	}
	return out, ctx.Err()
}

// ImageDetail implements images.Engine.
func (e *Engine) ImageDetail(ctx context.Context, img images.Image) (images.Detail, error) {
	if e.BeforeDetail != nil {
		e.BeforeDetail(img)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count("ImageDetail")
	for _, im := range e.images {
		if im.ID == img.ID {
			return images.Detail{Layers: slices.Clone(im.Layers), LastTagTime: im.LastTagTime}, ctx.Err()
		}
	}
	return images.Detail{}, fmt.Errorf("image %s: %w", img.ID, images.ErrNotFound)
}

// Remove implements images.Engine.
func (e *Engine) Remove(ctx context.Context, img images.Image) (images.Removed, error) {
	if e.BeforeRemove != nil {
		e.BeforeRemove(img)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count("Remove")
	if err := ctx.Err(); err != nil {
		return images.Removed{}, err
	}
	i := slices.IndexFunc(e.images, func(x images.Image) bool { return x.ID == img.ID })
	if i < 0 {
		return images.Removed{}, fmt.Errorf("image %s: %w", img.ID, images.ErrNotFound)
	}
	for _, c := range e.containers {
		if c.ImageID == img.ID {
			return images.Removed{}, fmt.Errorf("image %s is used by container %s: %w", img.ID, c.ID, images.ErrConflict)
		}
	}
	if e.hasChild(img.ID) {
		return images.Removed{}, fmt.Errorf("conflict: unable to delete %s - image has dependent child images: %w", img.ID, images.ErrConflict)
	}
	res := images.Removed{Untagged: e.images[i].RepoTags}
	// As Docker with noprune=0: the image, then each untagged parent left
	// without children and unused, and the layers no image holds any more.
	for i >= 0 {
		im := e.images[i]
		e.images = slices.Delete(e.images, i, i+1)
		res.Deleted = append(res.Deleted, im.ID)
		still := map[string]bool{}
		for _, o := range e.images {
			for _, l := range o.Layers {
				still[l.ID] = true
			}
		}
		for _, l := range slices.Backward(im.Layers) {
			if !still[l.ID] && l.ID != im.ID && !slices.Contains(res.Deleted, l.ID) {
				res.Deleted = append(res.Deleted, l.ID)
			}
		}
		i = slices.IndexFunc(e.images, func(x images.Image) bool { return x.ID == im.ParentID })
		if i >= 0 && (len(e.images[i].RepoTags) > 0 || e.hasChild(e.images[i].ID) || e.used(e.images[i].ID)) {
			break
		}
	}
	return res, nil
}

// hasChild reports whether an image has id as parent.
func (e *Engine) hasChild(id string) bool {
	return slices.ContainsFunc(e.images, func(x images.Image) bool { return x.ParentID == id })
}

// used reports whether a container uses id.
func (e *Engine) used(id string) bool {
	return slices.ContainsFunc(e.containers, func(c images.Container) bool { return c.ImageID == id })
}

// descends reports whether image id is anc or built on it.
func descends(parents map[string]string, id, anc string) bool {
	for range len(parents) + 1 {
		if id == anc {
			return true
		}
		p, ok := parents[id]
		if !ok {
			return false
		}
		id = p
	}
	return false
}

// Emit records an engine event, for Events to report.
func (e *Engine) Emit(ev images.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

// Events implements images.EventSource over the emitted events, keeping
// only the last 256 as Docker does. Without until it follows: events
// emitted later are delivered until ctx ends or Disconnect is called.
func (e *Engine) Events(ctx context.Context, since, until time.Time, fn func(images.Event)) error {
	e.mu.Lock()
	e.count("Events")
	if e.down {
		e.mu.Unlock()
		return errors.New("imagestest: connection refused (engine down)")
	}
	total := len(e.events)
	evs := slices.Clone(e.events[max(0, total-256):])
	cut := e.cut
	if cut == nil {
		cut = make(chan struct{})
		e.cut = cut
	}
	e.mu.Unlock()
	if total > 256 && evs[0].Time.After(since) {
		fn(images.Event{Type: images.EventTypeMissed, Time: evs[0].Time})
	}
	for _, ev := range evs {
		if !ev.Time.Before(since) && (until.IsZero() || !ev.Time.After(until)) {
			fn(ev)
		}
	}
	if !until.IsZero() {
		return ctx.Err()
	}
	seen := total
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cut:
			return errors.New("imagestest: connection cut")
		case <-t.C:
		}
		e.mu.Lock()
		live := slices.Clone(e.events[seen:])
		seen = len(e.events)
		e.mu.Unlock()
		for _, ev := range live {
			fn(ev)
		}
	}
}

// SetDown makes the engine refuse event subscriptions (down) or accept
// them again; going down also ends the streams in progress.
func (e *Engine) SetDown(down bool) {
	e.mu.Lock()
	e.down = down
	e.mu.Unlock()
	if down {
		e.Disconnect()
	}
}

// Disconnect ends the event streams in progress with an error, as an
// engine restart does.
func (e *Engine) Disconnect() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cut != nil {
		close(e.cut)
		e.cut = nil
	}
}

// PruneBuildCache implements images.Engine.
func (e *Engine) PruneBuildCache(ctx context.Context, keep int64) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count("PruneBuildCache")
	if e.NoBuildCache {
		return 0, fmt.Errorf("build cache prune: 404 page not found: %w", images.ErrNotSupported)
	}
	freed := max(0, e.BuildCache-keep)
	e.BuildCache -= freed
	return freed, ctx.Err()
}

// Usage implements images.Engine.
func (e *Engine) Usage(ctx context.Context) (images.Usage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count("Usage")
	return images.Usage{Total: e.Total, Used: e.BaseUsed + e.layerBytes() + e.BuildCache}, ctx.Err()
}
