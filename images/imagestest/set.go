package imagestest

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tendkit/tend/images"
)

// MiB and GiB are byte counts for building sets.
const (
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
)

// Set is a group of images and containers.
type Set struct {
	Images     []images.Image
	Containers []images.Container
}

// Chain returns layers stacked in order, each identified by a chain ID over
// the names below it, as Docker identifies stored layers: the same names in
// the same order are the same layers, shared between the images built on
// them.
func Chain(layers ...NamedLayer) []images.Layer {
	out := make([]images.Layer, len(layers))
	parent := ""
	for i, l := range layers {
		sum := sha256.Sum256([]byte(parent + " " + l.Name))
		parent = fmt.Sprintf("sha256:%x", sum)
		out[i] = images.Layer{ID: parent, Size: l.Size}
	}
	return out
}

// NamedLayer is a layer by name and size, for Chain.
type NamedLayer struct {
	Name string
	Size int64
}

// Image builds an image from its tags and layers; its ID is derived from
// both, its Size is the sum of the layers, SharedSize unknown (-1).
func Image(tags []string, created, lastTag time.Time, layers []images.Layer) images.Image {
	h := sha256.New()
	var size int64
	for _, l := range layers {
		fmt.Fprintln(h, l.ID)
		size += l.Size
	}
	fmt.Fprintln(h, tags, created.UnixNano())
	return images.Image{
		ID:          fmt.Sprintf("sha256:%x", h.Sum(nil)),
		RepoTags:    tags,
		Created:     created,
		LastTagTime: lastTag,
		Size:        size,
		SharedSize:  -1,
		Layers:      layers,
	}
}

// CUDA versions and their base layer sizes in the generated sets.
var cudaBases = []struct {
	version      string
	runtime, dnn int64
}{
	{"11.8", 3 * GiB, 800 * MiB},
	{"12.1", 3*GiB + 200*MiB, 850 * MiB},
	{"12.4", 3*GiB + 400*MiB, 900 * MiB},
	{"12.8", 3*GiB + 600*MiB, 950 * MiB},
}

var repos = []string{"pytorch/pytorch", "nvcr.io/nvidia/pytorch", "teamai/pytorch-train", "teamai/pytorch-serve", "redis", "postgres"}

// CUDASet returns n images and c containers that look like a GPU host's:
// PyTorch images of several repositories on four CUDA bases (a shared
// 80 MiB OS layer, then a 3+ GiB CUDA runtime and a cuDNN layer per CUDA
// version), a torch layer per torch and CUDA version, and a small
// application layer of their own; a few redis and postgres images that
// share nothing; tags like "2.7-cuda11.8"; build times up to a year before
// now and last tag (pull) times up to 90 days before now; containers on
// random images, one in four running. The same seed gives the same set.
func CUDASet(seed uint64, n, c int, now time.Time) Set {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var set Set
	for i := range n {
		repo := repos[r.IntN(len(repos))]
		torch := fmt.Sprintf("2.%d", r.IntN(10))
		created := now.Add(-time.Duration(90+r.IntN(275)) * 24 * time.Hour)
		lastTag := now.Add(-time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))
		if repo == "redis" || repo == "postgres" {
			layers := Chain(NamedLayer{fmt.Sprintf("%s-%d", repo, i), 100*MiB + r.Int64N(100*MiB)})
			set.Images = append(set.Images, Image([]string{fmt.Sprintf("%s:%d", repo, i)}, created, lastTag, layers))
			continue
		}
		cb := cudaBases[r.IntN(len(cudaBases))]
		layers := Chain(
			NamedLayer{"ubuntu-22.04", 80 * MiB},
			NamedLayer{"cuda-runtime-" + cb.version, cb.runtime},
			NamedLayer{"cudnn-" + cb.version, cb.dnn},
			NamedLayer{"torch-" + torch + "-" + cb.version, 2*GiB + int64(len(torch)+len(cb.version))*37*MiB + int64(torch[2]-'0')*50*MiB},
			NamedLayer{fmt.Sprintf("app-%d", i), 1*MiB + r.Int64N(200*MiB)},
		)
		tag := fmt.Sprintf("%s:%s-cuda%s-%d", repo, torch, cb.version, i)
		set.Images = append(set.Images, Image([]string{tag}, created, lastTag, layers))
	}
	for i := range c {
		if len(set.Images) == 0 {
			break
		}
		im := set.Images[r.IntN(len(set.Images))]
		set.Containers = append(set.Containers, images.Container{
			ID:      fmt.Sprintf("%064x", i+1),
			Name:    fmt.Sprintf("job-%d", i),
			ImageID: im.ID,
			Created: now.Add(-time.Duration(r.Int64N(int64(120 * 24 * time.Hour)))),
			Running: r.IntN(4) == 0,
		})
	}
	return set
}
