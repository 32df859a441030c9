package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// benchSet is n images and c containers made for the bench under a unique
// label, quickly: the images come from one `docker load` of a generated
// archive (a shared 64 KiB base layer and a 1 KiB layer of each image's
// own, so the pruner has a layer graph to count), the containers from the
// API, created and never started). Ten application layers are shared by
// the images in turn (each image has its own config: label and build
// time, so its own ID): extracting a layer per image would take minutes
// on this machine's fuse-overlayfs.
type benchSet struct {
	Run   string
	Label string // "tend.bench.run=<run>"
	IDs   []string
	Ctrs  []string
	Half  map[string]string // image ID -> "a" or "b"
}

func (s *benchSet) repo(name string) string { return "tendbench-" + s.Run + "/" + name }

func tarOf(name string, data []byte) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	return b.Bytes()
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// makeSet builds the set; cleanup removes it (also after a failure).
func makeSet(ctx context.Context, c *client.Client, docker, dir string, n, nc int) (*benchSet, error) {
	rb := make([]byte, 4)
	for i := range rb {
		rb[i] = byte(rand.Uint32())
	}
	s := &benchSet{Run: hex.EncodeToString(rb), Half: map[string]string{}}
	s.Label = "tend.bench.run=" + s.Run
	archive := filepath.Join(dir, "set.tar")
	f, err := os.Create(archive)
	if err != nil {
		return s, err
	}
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	r := rand.New(rand.NewPCG(uint64(len(s.Run)), 7))
	base := make([]byte, 64<<10)
	for i := range base {
		base[i] = byte(r.Uint32())
	}
	baseTar := tarOf("usr/local/cuda/lib.bin", base)
	add("base/layer.tar", baseTar)
	type manifest struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var ms []manifest
	created := time.Now().Add(-400 * 24 * time.Hour)
	repos := []string{"pytorch", "pytorch-train", "pytorch-serve", "redis"}
	var appTars [][]byte
	for k := range 10 {
		own := make([]byte, 1024)
		for j := range own {
			own[j] = byte(r.Uint32())
		}
		appTars = append(appTars, tarOf(fmt.Sprintf("app-%d.bin", k), own))
		add(fmt.Sprintf("l%d/layer.tar", k), appTars[k])
	}
	for i := range n {
		ownTar := appTars[i%10]
		layer := fmt.Sprintf("l%d/layer.tar", i%10)
		half := "a"
		if i%2 == 1 {
			half = "b"
		}
		cfg, _ := json.Marshal(map[string]any{
			"architecture": "amd64", "os": "linux",
			"created": created.Add(time.Duration(i) * time.Hour).Format(time.RFC3339Nano),
			"config":  map[string]any{"Labels": map[string]string{"tend.bench.run": s.Run, "tend.bench.half": half}, "Cmd": []string{"/app"}},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{digest(baseTar), digest(ownTar)}},
			"history": []map[string]any{{"created_by": "COPY cuda /usr/local/cuda"}, {"created_by": "COPY app /"}},
		})
		id := digest(cfg)
		add(strings.TrimPrefix(id, "sha256:")+".json", cfg)
		repo := repos[i%len(repos)]
		ms = append(ms, manifest{Config: strings.TrimPrefix(id, "sha256:") + ".json",
			RepoTags: []string{fmt.Sprintf("%s:2.%d-cuda11.8", s.repo(repo), i)}, Layers: []string{"base/layer.tar", layer}})
		s.IDs = append(s.IDs, id)
		s.Half[id] = half
	}
	mb, _ := json.Marshal(ms)
	add("manifest.json", mb)
	if err := tw.Close(); err != nil {
		return s, err
	}
	if err := f.Close(); err != nil {
		return s, err
	}
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, docker, "load", "-q", "-i", archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		return s, fmt.Errorf("docker load: %v: %s", err, out)
	}
	os.Remove(archive)
	fmt.Fprintf(os.Stderr, "images bench: loaded %d images in %v\n", n, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	defer func() {
		fmt.Fprintf(os.Stderr, "images bench: created %d containers in %v\n", len(s.Ctrs), time.Since(t0).Round(time.Millisecond))
	}()
	// Container j on image j+2*(j/2) (0, 1, 4, 5, 8, ...): on half of the
	// images of each half.
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
					Config: &container.Config{Image: s.IDs[(i+2*(i/2))%n], Cmd: []string{"/app"}, Labels: map[string]string{"tend.bench.run": s.Run}},
				})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					s.Ctrs = append(s.Ctrs, res.ID)
				}
				mu.Unlock()
			}
		})
	}
	for i := range nc {
		work <- i
	}
	close(work)
	wg.Wait()
	return s, firstErr
}

// cleanup removes the set's containers and images.
func (s *benchSet) cleanup(ctx context.Context, c *client.Client) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	run := func(ids []string, rm func(string) error) {
		work := make(chan string)
		for range 4 {
			wg.Go(func() {
				for id := range work {
					if err := rm(id); err != nil && !strings.Contains(err.Error(), "No such") && !strings.Contains(strings.ToLower(err.Error()), "not found") {
						mu.Lock()
						errs = append(errs, err.Error())
						mu.Unlock()
					}
				}
			})
		}
		for _, id := range ids {
			work <- id
		}
		close(work)
		wg.Wait()
	}
	run(s.Ctrs, func(id string) error {
		_, err := c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
		return err
	})
	run(s.IDs, func(id string) error {
		_, err := c.ImageRemove(ctx, id, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		return err
	})
	if len(errs) > 0 {
		return fmt.Errorf("cleanup of bench set %s: %d errors, first: %s", s.Run, len(errs), errs[0])
	}
	return nil
}
