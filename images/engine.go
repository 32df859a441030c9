package images

import (
	"context"
	"errors"
	"time"
)

// Engine is the part of a container engine the pruner uses. The real one is
// package images/dockerengine (the Docker Engine API, also Podman's
// Docker-compatible socket); images/imagestest has an in-memory fake.
//
// Implementations return errors that wrap ErrNotFound, ErrConflict or
// ErrNotSupported where those apply, so the pruner can tell a skip from a
// failure.
type Engine interface {
	// Images lists all images, the untagged intermediate images of
	// classic-builder and commit chains included (Docker's
	// /images/json?all=1), each with its ParentID, so the pruner knows which
	// images have children. Layers may be nil when the listing lacks layer
	// data; the pruner then asks ImageDetail.
	Images(ctx context.Context) ([]Image, error)
	// Containers lists all containers, running and stopped; with a non-empty
	// imageID only those created from that image.
	Containers(ctx context.Context, imageID string) ([]Container, error)
	// ImageDetail returns what the listing lacks for img: its layers with
	// their sizes and its last tag time.
	ImageDetail(ctx context.Context, img Image) (Detail, error)
	// Remove removes img and all its tags, never by force: an image a
	// container uses is refused with an error wrapping ErrConflict and is
	// left as it was (tags included).
	Remove(ctx context.Context, img Image) (Removed, error)
	// PruneBuildCache removes build cache until at most keep bytes remain.
	// Engines without a build cache endpoint return an error wrapping
	// ErrNotSupported.
	PruneBuildCache(ctx context.Context, keep int64) (int64, error)
	// Usage reports the file system that holds the images.
	Usage(ctx context.Context) (Usage, error)
}

// Sentinel errors an Engine wraps.
var (
	// ErrNotFound: the image is gone (removed by someone else).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the image is in use (a container was created from it) or
	// has gained references the plan did not know about.
	ErrConflict = errors.New("conflict")
	// ErrNotSupported: the engine has no such endpoint (Podman's build cache).
	ErrNotSupported = errors.New("not supported by this engine")
)

// Image is one image as listed by the engine.
type Image struct {
	// ID is the content-addressable image ID ("sha256:...").
	ID string `json:"id"`
	// RepoTags are the image's references ("pytorch/pytorch:2.7-cuda11.8");
	// empty for a dangling image.
	RepoTags []string `json:"repo_tags,omitempty"`
	// Labels are the image config's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Created is the build time.
	Created time.Time `json:"created"`
	// Size is the sum of the image's layer sizes.
	Size int64 `json:"size"`
	// SharedSize is the part of Size shared with other images; -1 when the
	// engine did not compute it (Docker API below 1.42).
	SharedSize int64 `json:"shared_size"`
	// ParentID is the image this one was built on by the classic builder
	// or docker commit ("" for pulled, imported and BuildKit images). An
	// image with children cannot be removed before them.
	ParentID string `json:"parent_id,omitempty"`
	// Layers, base first, when the listing carries them; nil otherwise.
	Layers []Layer `json:"layers,omitempty"`
	// LastTagTime is the last time the image was tagged or pulled on this
	// host, when the listing carries it.
	LastTagTime time.Time `json:"last_tag_time,omitzero"`
}

// Dangling reports whether the image has no tag.
func (im Image) Dangling() bool {
	for _, t := range im.RepoTags {
		if t != "<none>:<none>" {
			return false
		}
	}
	return true
}

// Layer is one layer of an image, identified so that equal IDs are the same
// stored layer (Docker's chain ID: the layer and everything below it).
type Layer struct {
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// Detail is what an inspection adds to the listing.
type Detail struct {
	// Layers, base first. A nil slice means the image's Size is all its own
	// (the engine knows it shares nothing).
	Layers []Layer `json:"layers,omitempty"`
	// LastTagTime is the last tag or pull on this host (zero if unknown).
	LastTagTime time.Time `json:"last_tag_time,omitzero"`
}

// Container is one container, running or stopped.
type Container struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	ImageID string    `json:"image_id"`
	Created time.Time `json:"created"`
	Running bool      `json:"running"`
}

// Removed is the engine's answer to a removal.
type Removed struct {
	// Untagged are the references removed.
	Untagged []string `json:"untagged,omitempty"`
	// Deleted are the IDs the engine deleted: the image, untagged parents and
	// layers (Docker lists layers by chain ID).
	Deleted []string `json:"deleted,omitempty"`
}

// Usage describes the file system holding the images.
type Usage struct {
	// Total and Used are the file system's size and used bytes.
	Total int64 `json:"total"`
	Used  int64 `json:"used"`
}

// Percent returns Used as a share of Total, from 0 to 100.
func (u Usage) Percent() float64 {
	if u.Total <= 0 {
		return 0
	}
	return 100 * float64(u.Used) / float64(u.Total)
}

// EventSource is an Engine that also reports, as they happen, the events
// that mean an image was used: a container created, started or exec'd into,
// an image pulled, tagged, imported or loaded. The Docker engine is one
// (package images/dockerengine). The pruner replays the events since its
// last run (the daemon keeps its last 256), and a Follower records them as
// they come, so that a `docker run --rm` job between two runs counts.
type EventSource interface {
	// Events calls fn for each engine event from since on, oldest first:
	// every event, so that the caller's cursor follows the engine's, with
	// ImageID set only on those that mark an image as used, and one of type
	// EventTypeMissed when the engine no longer holds all events since
	// since.
	// With until set it returns once the events up to until were replayed;
	// otherwise it follows the stream until ctx ends or the connection
	// breaks, and returns why. fn runs on the caller's goroutine.
	Events(ctx context.Context, since, until time.Time, fn func(Event)) error
}

// EventType is what an Event is about.
type EventType string

// The event types.
const (
	// EventTypeContainer: a container was created, started or exec'd into.
	EventTypeContainer EventType = "container"
	// EventTypeImage: an image was pulled, tagged, imported or loaded.
	EventTypeImage EventType = "image"
)

// Event is one engine event that marks an image as used.
type Event struct {
	// Time is when the engine recorded it.
	Time time.Time `json:"time"`
	// Type and Action say what happened ("container" "start", "image"
	// "tag"; other engine events keep the engine's type, "network" ...).
	Type   EventType `json:"type"`
	Action string    `json:"action"`
	// Ref is the image as the event names it ("busybox", an ID, a tag).
	Ref string `json:"ref,omitempty"`
	// ImageID is the image used, set only on events that mark a use and
	// whose image could be resolved ("" when the image is gone).
	ImageID string `json:"image_id,omitempty"`
}
