package images_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// A Follower records, between two pruning runs, the images that engine
// events show in use: here a `docker run --rm` job's container start. The
// next plan keeps the image although no container is left.
func ExampleFollower() {
	job := imagestest.Image([]string{"team/eval:1"}, time.Now().AddDate(-1, 0, 0), time.Now().AddDate(0, -6, 0),
		imagestest.Chain(imagestest.NamedLayer{Name: "eval", Size: 1 << 30}))
	engine := imagestest.New(imagestest.Set{Images: []images.Image{job}})
	dir, _ := os.MkdirTemp("", "follower-example-")
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "images.json")

	ctx, stop := context.WithCancel(context.Background())
	f := &images.Follower{Engine: engine, StateFile: state, FlushEvery: 10 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	for f.Stats().Connects == 0 {
		time.Sleep(time.Millisecond)
	}
	engine.Emit(images.Event{Time: time.Now(), Type: images.EventTypeContainer, Action: "start", Ref: "team/eval:1", ImageID: job.ID})
	for f.Stats().Events == 0 {
		time.Sleep(time.Millisecond)
	}
	stop()
	<-done // the follower wrote the state file

	pruner := &images.ImagePruner{Engine: engine, StateFile: state,
		Policy: images.Policy{Match: []string{"team/*"}, UnusedFor: 7 * 24 * time.Hour}}
	plan, err := pruner.Plan(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(len(plan.Removals), "removals;", plan.Kept[0].RepoTags[0], "kept:", plan.Kept[0].Code)
	// Output:
	// 0 removals; team/eval:1 kept: recently_used
}
