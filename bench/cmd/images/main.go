// Command images compares tend's image pruner with its peers:
//
//   - planning over 1,000 images and 500 containers on the fake engine,
//     against the seed's docker-py loop (one containers call per image);
//   - a dry run on the real Docker daemon (requests and wall time, cold and
//     with the state file), against the seed's loop reimplemented in Go;
//   - pruning on the real daemon against `docker image prune -a` (which has
//     no dry run), each on its own set built for the bench under a unique
//     label.
//
// It prints one line per comparison, `NAME ratio=X (tend A vs peer B)`,
// details on stderr, and removes what it built.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/images/imagestest"
)

func main() {
	n := flag.Int("images", 16, "images per real-daemon set")
	reps := flag.Int("reps", 5, "repetitions (medians are printed)")
	flag.Parse()
	if err := run(*n, *reps); err != nil {
		fmt.Fprintln(os.Stderr, "images bench:", err)
		os.Exit(1)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func line(name string, tend, peer float64, tendTxt, peerName, peerTxt string) {
	fmt.Printf("%s ratio=%.3g (tend %s vs peer %s %s)\n", name, tend/peer, tendTxt, peerName, peerTxt)
}

// seedLoop is the seed's docker-py logic: list images, then for each
// tagged image matching "pytorch" list the containers created from it.
func seedLoop(ctx context.Context, e images.Engine) (unused int, err error) {
	imgs, err := e.Images(ctx)
	if err != nil {
		return 0, err
	}
	for _, im := range imgs {
		if len(im.RepoTags) == 0 || !strings.Contains(strings.ToLower(strings.Join(im.RepoTags, " ")), "pytorch") {
			continue
		}
		cs, err := e.Containers(ctx, im.ID)
		if err != nil {
			return 0, err
		}
		if len(cs) == 0 {
			unused++
		}
	}
	return unused, nil
}

func run(n, reps int) error {
	ctx := context.Background()
	now := time.Now()
	policy := images.Policy{Match: []string{"*pytorch*"}, KeepLatest: 2, UnusedFor: 30 * 24 * time.Hour, ProtectTags: []string{"latest"}}

	// 1. Fake engine, 1,000 images and 500 containers.
	fake := imagestest.New(imagestest.CUDASet(1, 1000, 500, now))
	var tendT, seedT []time.Duration
	for range reps * 4 {
		p := &images.ImagePruner{Engine: fake, Policy: policy, Now: func() time.Time { return now }}
		t0 := time.Now()
		if _, err := p.Plan(ctx); err != nil {
			return err
		}
		tendT = append(tendT, time.Since(t0))
		t0 = time.Now()
		if _, err := seedLoop(ctx, fake); err != nil {
			return err
		}
		seedT = append(seedT, time.Since(t0))
	}
	line("images-plan-fake-1000", float64(median(tendT)), float64(median(seedT)), ms(median(tendT)), "seed-loop", ms(median(seedT)))

	docker, err := exec.LookPath("docker")
	if err != nil {
		fmt.Fprintln(os.Stderr, "images bench: docker not found: real-daemon comparisons skipped")
		return nil
	}
	dir, err := os.MkdirTemp("", "tend-bench-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return realDaemon(ctx, docker, dir, n, reps)
}

// buildSet builds n images (and a container on every fourth) under a fresh
// run label.
func buildSet(ctx context.Context, docker, dir string, n int) (*imagestest.Docker, error) {
	d := imagestest.NewDocker(docker, dir)
	run, _ := strconv.ParseUint(d.Run, 16, 64) // sets must not share their own layers
	for i := range n {
		tag := fmt.Sprintf("%s:2.%d-cuda11.8", d.Repo("pytorch"), i)
		id, err := d.Build(ctx, 64<<10+i*1024, run<<16+uint64(i+1), tag)
		if err != nil {
			return d, err
		}
		if i%4 == 0 {
			if _, err := d.Container(ctx, id, false); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

func realDaemon(ctx context.Context, docker, dir string, n, reps int) error {
	t0 := time.Now()
	d, err := buildSet(ctx, docker, dir, n)
	defer d.Cleanup(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "images bench: built %d images in %v\n", n, time.Since(t0).Round(time.Second))
	eng, err := dockerengine.New(dockerengine.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	if _, err := eng.Images(ctx); err != nil { // version negotiation out of the counts
		return err
	}
	scoped := images.Policy{Match: []string{d.Repo("*")}, Labels: []string{d.Label()}, KeepLatest: 2}
	state := filepath.Join(dir, "state.json")
	var coldT, warmT, seedT []time.Duration
	var cold, warm, seed int64
	for range reps {
		os.Remove(state)
		p := &images.ImagePruner{Engine: eng, Policy: scoped, StateFile: state}
		r0, t0 := eng.Requests(), time.Now()
		if _, err := p.Plan(ctx); err != nil {
			return err
		}
		coldT, cold = append(coldT, time.Since(t0)), eng.Requests()-r0
		r0, t0 = eng.Requests(), time.Now()
		if _, err := p.Plan(ctx); err != nil {
			return err
		}
		warmT, warm = append(warmT, time.Since(t0)), eng.Requests()-r0
		r0, t0 = eng.Requests(), time.Now()
		if _, err := seedLoop(ctx, eng); err != nil {
			return err
		}
		seedT, seed = append(seedT, time.Since(t0)), eng.Requests()-r0
	}
	fmt.Fprintf(os.Stderr, "images bench: the seed loop counts every pytorch image on the engine (others' too); tend's policy is scoped to the bench's label\n")
	line("images-plan-calls", float64(warm), float64(seed), fmt.Sprintf("%d calls", warm), "seed-loop", fmt.Sprintf("%d calls", seed))
	line("images-plan-calls-cold", float64(cold), float64(seed), fmt.Sprintf("%d calls", cold), "seed-loop", fmt.Sprintf("%d calls", seed))
	line("images-plan-wall", float64(median(warmT)), float64(median(seedT)), ms(median(warmT)), "seed-loop", ms(median(seedT)))
	line("images-plan-wall-cold", float64(median(coldT)), float64(median(seedT)), ms(median(coldT)), "seed-loop", ms(median(seedT)))

	// Prune: tend on one set, docker image prune -a on an equal one.
	var tendP, dockerP []time.Duration
	for range max(1, reps/4) {
		a, err := buildSet(ctx, docker, dir, n)
		defer a.Cleanup(context.Background())
		if err != nil {
			return err
		}
		b, err := buildSet(ctx, docker, dir, n)
		defer b.Cleanup(context.Background())
		if err != nil {
			return err
		}
		p := &images.ImagePruner{Engine: eng, Policy: images.Policy{Match: []string{a.Repo("*")}, Labels: []string{a.Label()}, Dangling: true}}
		t0 := time.Now()
		rep, err := p.Prune(ctx)
		if err != nil {
			return err
		}
		tendP = append(tendP, time.Since(t0))
		t0 = time.Now()
		out, err := b.Exec(ctx, "image", "prune", "-a", "-f", "--filter", "label="+b.Label())
		if err != nil {
			return err
		}
		dockerP = append(dockerP, time.Since(t0))
		last := out[strings.LastIndexByte(out, '\n')+1:]
		fmt.Fprintf(os.Stderr, "images bench: tend removed %d images, freed %d bytes (planned %d); docker: %s\n",
			len(rep.Removed), rep.FreedBytes, rep.PlannedBytes, last)
	}
	line("images-prune-wall", float64(median(tendP)), float64(median(dockerP)), ms(median(tendP)), "docker-image-prune-a", ms(median(dockerP)))
	return nil
}
