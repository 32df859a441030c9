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
	// Images lists the top-level images (no intermediate build images).
	// Layers may be nil when the listing lacks layer data; the pruner then
	// asks ImageDetail.
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
	// Calls is the number of engine requests the detail cost.
	Calls int `json:"-"`
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
	// Calls is the number of engine requests it cost.
	Calls int `json:"-"`
}

// Percent returns Used as a share of Total, from 0 to 100.
func (u Usage) Percent() float64 {
	if u.Total <= 0 {
		return 0
	}
	return 100 * float64(u.Used) / float64(u.Total)
}
