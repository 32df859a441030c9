// Command images compares tend's image pruner with its peers:
//
//   - planning over 1,000 images and 500 containers on the fake engine,
//     against the seed's docker-py loop (one containers call per image);
//   - a dry run over 1,000 images and 500 containers on the real Docker
//     daemon, cold (no state file) and warm, wall time and engine requests,
//     against the seed's docker-py script itself (seed_dry.py: its removal
//     replaced by a print), its requests counted by a proxy socket;
//   - pruning half of the set on the real daemon against `docker image
//     prune -a` on the other half (it has no dry run).
//
// The set is made quickly (one `docker load` of a generated archive, the
// containers created through the API and never started) under a unique
// label, and removed at the end. It prints one line per comparison,
// `NAME ratio=X (tend A vs peer B)`, details on stderr.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/images/imagestest"
)

//go:embed seed_dry.py
var seedScript []byte

func main() {
	n := flag.Int("images", 1000, "images in the real-daemon set")
	nc := flag.Int("containers", 500, "containers in the real-daemon set")
	reps := flag.Int("reps", 3, "repetitions (medians are printed)")
	flag.Parse()
	if err := run(*n, *nc, *reps); err != nil {
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

func run(n, nc, reps int) error {
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
	return realDaemon(ctx, docker, dir, n, nc, reps)
}

// socketPath is the Docker daemon's unix socket.
func socketPath() (string, error) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		return "/var/run/docker.sock", nil
	}
	if !strings.HasPrefix(host, "unix://") {
		return "", fmt.Errorf("DOCKER_HOST %s: the bench counts requests on a unix socket", host)
	}
	return strings.TrimPrefix(host, "unix://"), nil
}

// peer runs a peer command with DOCKER_HOST on the counting proxy and
// returns its wall time and requests.
func peer(ctx context.Context, px *countingProxy, name string, args ...string) (time.Duration, int64, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+px.host())
	r0, t0 := px.requests.Load(), time.Now()
	out, err := cmd.Output()
	took := time.Since(t0)
	time.Sleep(50 * time.Millisecond) // the proxy's last reads
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%s: %w: %s", name, err, ee.Stderr)
		}
	}
	return took, px.requests.Load() - r0, string(out), err
}

func realDaemon(ctx context.Context, docker, dir string, n, nc, reps int) error {
	sock, err := socketPath()
	if err != nil {
		return err
	}
	c, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer c.Close()
	t0 := time.Now()
	set, err := makeSet(ctx, c, docker, dir, n, nc)
	defer func() {
		t0 := time.Now()
		if err := set.cleanup(context.Background(), c); err != nil {
			fmt.Fprintln(os.Stderr, "images bench:", err)
		}
		fmt.Fprintf(os.Stderr, "images bench: removed the set in %v\n", time.Since(t0).Round(time.Second))
	}()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "images bench: made %d images and %d containers in %v (run %s)\n", len(set.IDs), len(set.Ctrs), time.Since(t0).Round(time.Second), set.Run)
	px, err := newCountingProxy(dir, sock)
	if err != nil {
		return err
	}
	defer px.Close()
	script := filepath.Join(dir, "seed_dry.py")
	if err := os.WriteFile(script, seedScript, 0o644); err != nil {
		return err
	}
	python, pyErr := exec.LookPath("python3")
	if pyErr == nil {
		if err := exec.Command(python, "-c", "import docker").Run(); err != nil {
			pyErr = fmt.Errorf("python3 has no docker module (apt-get install python3-docker)")
		}
	}

	eng, err := dockerengine.New(dockerengine.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	if _, err := eng.Containers(ctx, "none"); err != nil { // version negotiation out of the counts
		return err
	}
	scoped := images.Policy{Match: []string{set.repo("pytorch*")}, Labels: []string{set.Label}, KeepLatest: 2,
		UnusedFor: 30 * 24 * time.Hour, ProtectTags: []string{"*latest", "*stable"}}
	state := filepath.Join(dir, "state.json")
	var coldT, warmT, seedT []time.Duration
	var cold, warm, seed int64
	var planned, seedPlanned int
	for range reps {
		os.Remove(state)
		p := &images.ImagePruner{Engine: eng, Policy: scoped, StateFile: state}
		r0, t0 := eng.Requests(), time.Now()
		plan, err := p.Plan(ctx)
		if err != nil {
			return err
		}
		coldT, cold = append(coldT, time.Since(t0)), eng.Requests()-r0
		planned = len(plan.Removals)
		plan.Removals = nil // record the state as a real run that removes nothing
		if _, err := p.Apply(ctx, plan); err != nil {
			return err
		}
		r0, t0 = eng.Requests(), time.Now()
		if _, err := p.Plan(ctx); err != nil {
			return err
		}
		warmT, warm = append(warmT, time.Since(t0)), eng.Requests()-r0
		if pyErr == nil {
			took, calls, out, err := peer(ctx, px, python, script)
			if err != nil {
				return err
			}
			seedT, seed = append(seedT, took), calls
			seedPlanned = strings.Count(out, "would remove")
		}
	}
	fmt.Fprintf(os.Stderr, "images bench: tend plans %d removals of %d pytorch images (keep_latest 2 per repository); the seed script %d (all unused, no keep_latest, and every pytorch image on the engine)\n",
		planned, n*3/4, seedPlanned)
	if pyErr != nil {
		fmt.Fprintf(os.Stderr, "images bench: seed script skipped: %v\n", pyErr)
		fmt.Printf("images-plan-cold-%d tend %s %d requests; warm %s %d requests (no peer)\n", n, ms(median(coldT)), cold, ms(median(warmT)), warm)
	} else {
		line(fmt.Sprintf("images-plan-cold-%d", n), float64(median(coldT)), float64(median(seedT)), fmt.Sprintf("%s %d requests", ms(median(coldT)), cold), "seed-script", fmt.Sprintf("%s %d requests", ms(median(seedT)), seed))
		line(fmt.Sprintf("images-plan-warm-%d", n), float64(median(warmT)), float64(median(seedT)), fmt.Sprintf("%s %d requests", ms(median(warmT)), warm), "seed-script", fmt.Sprintf("%s %d requests", ms(median(seedT)), seed))
		line(fmt.Sprintf("images-plan-requests-cold-%d", n), float64(cold), float64(seed), fmt.Sprintf("%d", cold), "seed-script", fmt.Sprintf("%d", seed))
		line(fmt.Sprintf("images-plan-requests-warm-%d", n), float64(warm), float64(seed), fmt.Sprintf("%d", warm), "seed-script", fmt.Sprintf("%d", seed))
	}

	// Prune: tend on half a, docker image prune -a on half b (equal sets:
	// every other image, containers on half of each).
	p := &images.ImagePruner{Engine: eng, Policy: images.Policy{Match: []string{set.repo("*")},
		Labels: []string{set.Label, "tend.bench.half=a"}, Dangling: true}}
	r0, t1 := eng.Requests(), time.Now()
	rep, err := p.Prune(ctx)
	if err != nil {
		return err
	}
	tendP, tendR := time.Since(t1), eng.Requests()-r0
	dockerP, dockerR, out, err := peer(ctx, px, docker, "image", "prune", "-a", "-f", "--filter", "label="+set.Label, "--filter", "label=tend.bench.half=b")
	if err != nil {
		return err
	}
	left, err := c.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("label", set.Label)})
	if err != nil {
		return err
	}
	halves := map[string]int{}
	for _, im := range left.Items {
		halves[set.Half[im.ID]]++
	}
	fmt.Fprintf(os.Stderr, "images bench: tend removed %d images (planned %d B, freed %d B), kept %d; docker image prune -a kept %d: %s\n",
		len(rep.Removed), rep.PlannedBytes, rep.FreedBytes, halves["a"], halves["b"], strings.TrimSpace(out[strings.LastIndexByte(strings.TrimSpace(out), '\n')+1:]))
	line(fmt.Sprintf("images-prune-%d", n/2), float64(tendP), float64(dockerP), fmt.Sprintf("%s %d requests", ms(tendP), tendR), "docker-image-prune-a", fmt.Sprintf("%s %d requests", ms(dockerP), dockerR))
	return nil
}
