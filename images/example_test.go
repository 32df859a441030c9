package images_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
)

// Three PyTorch images on one CUDA base; a stopped container uses the
// newest. Removing the two others frees only their own layers: the base
// stays for the image in use.
func ExampleImagePruner() {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	base := []imagestest.NamedLayer{{Name: "ubuntu", Size: 80 << 20}, {Name: "cuda-12.8", Size: 3 << 30}}
	image := func(tag, app string, appSize int64, lastPull time.Time) images.Image {
		return imagestest.Image([]string{tag}, now.AddDate(-1, 0, 0), lastPull,
			imagestest.Chain(append(base, imagestest.NamedLayer{Name: app, Size: appSize})...))
	}
	old := image("pytorch/pytorch:2.5-cuda12.8", "torch-2.5", 2<<30, now.AddDate(0, -3, 0))
	mid := image("pytorch/pytorch:2.6-cuda12.8", "torch-2.6", 2<<30, now.AddDate(0, -2, 0))
	cur := image("pytorch/pytorch:2.7-cuda12.8", "torch-2.7", 2<<30, now.AddDate(0, 0, -1))
	engine := imagestest.New(imagestest.Set{
		Images:     []images.Image{old, mid, cur},
		Containers: []images.Container{{ID: "c1", Name: "train", ImageID: cur.ID, Created: now.AddDate(0, 0, -1)}},
	})

	pruner := &images.ImagePruner{
		Engine: engine,
		Policy: images.Policy{Match: []string{"*pytorch*"}, UnusedFor: 30 * 24 * time.Hour},
		Now:    func() time.Time { return now },
	}
	plan, err := pruner.Plan(context.Background())
	if err != nil {
		panic(err)
	}
	for _, r := range plan.Removals {
		fmt.Printf("remove %s (%d MiB)\n", r.RepoTags[0], r.Bytes>>20)
	}
	for _, k := range plan.Kept {
		fmt.Printf("keep %s: %s\n", k.RepoTags[0], k.Reason)
	}
	report, err := pruner.Apply(context.Background(), plan)
	if err != nil {
		panic(err)
	}
	fmt.Printf("planned %d MiB, freed %d MiB in %d engine calls\n", report.PlannedBytes>>20, report.FreedBytes>>20, plan.Calls.Total())
	// Output:
	// remove pytorch/pytorch:2.5-cuda12.8 (2048 MiB)
	// remove pytorch/pytorch:2.6-cuda12.8 (2048 MiB)
	// keep pytorch/pytorch:2.7-cuda12.8: in use by container train (stopped)
	// planned 4096 MiB, freed 4096 MiB in 2 engine calls
}
