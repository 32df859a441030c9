package imagestest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Docker builds real images and containers with the docker CLI for
// integration tests and benchmarks, all under a repository prefix and a
// label unique to this run ("tendtest-<run>/...", tend.test.run=<run>), so
// that a policy can match them alone on an engine that others share.
//
// Each image is FROM scratch: a shared base of /bin/busybox (from Debian's
// busybox-static) and a BaseSize random "CUDA" file, then an application
// file of its own, then the label. The classic builder (DOCKER_BUILDKIT=0)
// reuses the base layers, so all images share them as CUDA images do.
type Docker struct {
	// CLI is the docker program; Dir a scratch directory; Run the unique id.
	CLI, Dir, Run string
	// BaseSize is the shared base file's size (default 4 MiB).
	BaseSize int
	// Busybox is the static busybox to copy in (default /bin/busybox).
	Busybox string
}

// NewDocker returns a builder with a fresh run id.
func NewDocker(cli, dir string) *Docker {
	b := make([]byte, 4)
	rand.Read(b)
	return &Docker{CLI: cli, Dir: dir, Run: hex.EncodeToString(b), BaseSize: 4 << 20, Busybox: "/bin/busybox"}
}

// Repo returns the run's repository called name ("tendtest-<run>/name").
func (d *Docker) Repo(name string) string { return "tendtest-" + d.Run + "/" + name }

// Label returns the run's label as "key=value".
func (d *Docker) Label() string { return "tend.test.run=" + d.Run }

// Exec runs the docker CLI and returns its trimmed output.
func (d *Docker) Exec(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.CLI, args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// Build builds an image with an application file of appSize random bytes
// (seeded, so equal seeds give equal layers) and returns its ID. tags are
// full references.
func (d *Docker) Build(ctx context.Context, appSize int, seed uint64, tags ...string) (string, error) {
	ctxDir, err := os.MkdirTemp(d.Dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(ctxDir)
	bb, err := os.ReadFile(d.Busybox)
	if err != nil {
		return "", fmt.Errorf("busybox (apt-get install busybox-static): %w", err)
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	base := make([]byte, d.BaseSize)
	for i := range base {
		base[i] = byte(r.Uint32())
	}
	r = mrand.New(mrand.NewPCG(seed, 3))
	app := make([]byte, appSize)
	for i := range app {
		app[i] = byte(r.Uint32())
	}
	dockerfile := "FROM scratch\nCOPY busybox /bin/busybox\nCOPY cuda.bin /usr/local/cuda/lib.bin\nCOPY app.bin /app.bin\nLABEL " + d.Label() + "\n"
	for name, data := range map[string][]byte{"busybox": bb, "cuda.bin": base, "app.bin": app, "Dockerfile": []byte(dockerfile)} {
		if err := os.WriteFile(filepath.Join(ctxDir, name), data, 0o755); err != nil {
			return "", err
		}
	}
	args := []string{"build", "-q"}
	for _, t := range tags {
		args = append(args, "-t", t)
	}
	return d.Exec(ctx, append(args, ctxDir)...)
}

// BuildFrom builds, with the classic builder, an image on parent (an ID or
// a reference) that adds an application file of appSize random bytes: its
// parent chain is parent <- an untagged intermediate image (the COPY) <-
// the new image (the LABEL), as `docker build` makes with
// DOCKER_BUILDKIT=0. It returns the new image's ID.
func (d *Docker) BuildFrom(ctx context.Context, parent string, appSize int, seed uint64, tags ...string) (string, error) {
	ctxDir, err := os.MkdirTemp(d.Dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(ctxDir)
	r := mrand.New(mrand.NewPCG(seed, 3))
	app := make([]byte, appSize)
	for i := range app {
		app[i] = byte(r.Uint32())
	}
	dockerfile := fmt.Sprintf("FROM %s\nCOPY app.bin /app-%d.bin\nLABEL %s tend.test.seed=%d\n", parent, seed, d.Label(), seed)
	for name, data := range map[string][]byte{"app.bin": app, "Dockerfile": []byte(dockerfile)} {
		if err := os.WriteFile(filepath.Join(ctxDir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	args := []string{"build", "-q"}
	for _, t := range tags {
		args = append(args, "-t", t)
	}
	return d.Exec(ctx, append(args, ctxDir)...)
}

// Container creates a container from image (started and sleeping when
// running) and returns its ID.
func (d *Docker) Container(ctx context.Context, image string, running bool) (string, error) {
	if running {
		return d.Exec(ctx, "run", "-d", "--label", d.Label(), image, "/bin/busybox", "sleep", "600")
	}
	return d.Exec(ctx, "create", "--label", d.Label(), image, "/bin/busybox", "true")
}

// Cleanup removes the run's containers and images (forcing: this is test
// cleanup, not the pruner).
func (d *Docker) Cleanup(ctx context.Context) error {
	var errs []error
	if out, err := d.Exec(ctx, "ps", "-aq", "--filter", "label="+d.Label()); err != nil {
		errs = append(errs, err)
	} else if out != "" {
		if _, err := d.Exec(ctx, append([]string{"rm", "-f"}, strings.Fields(out)...)...); err != nil {
			errs = append(errs, err)
		}
	}
	// Children before parents: a parent is refused while it has children,
	// so remove what can go and list again (intermediate images too).
	for pass := 0; ; pass++ {
		out, err := d.Exec(ctx, "images", "-a", "-q", "--no-trunc", "--filter", "label="+d.Label())
		if err != nil {
			errs = append(errs, err)
			break
		}
		if out == "" {
			break
		}
		ids := uniq(strings.Fields(out))
		_, err = d.Exec(ctx, append([]string{"rmi", "-f"}, ids...)...)
		if pass == 10 {
			errs = append(errs, fmt.Errorf("images left after 10 passes: %v", err))
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cleanup run %s: %v", d.Run, errs)
	}
	return nil
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
