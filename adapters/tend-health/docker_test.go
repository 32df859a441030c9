package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// goBuildStatic builds pkg (a directory) as a static binary at out.
func goBuildStatic(t *testing.T, dir, pkg, out string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command is not in PATH: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, b)
}

type dockerHealth struct {
	Status string
	Log    []struct {
		Start, End time.Time
		ExitCode   int
		Output     string
	}
}

func inspectHealth(t *testing.T, docker, ctr string) dockerHealth {
	out, err := exec.Command(docker, "inspect", "--format", "{{json .State.Health}}", ctr).Output()
	require.NoError(t, err)
	var h dockerHealth
	require.NoError(t, json.Unmarshal(out, &h), "%s", out)
	return h
}

func waitHealth(t *testing.T, docker, ctr, want string, within time.Duration) dockerHealth {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h := inspectHealth(t, docker, ctr)
		if h.Status == want {
			return h
		}
		if time.Now().After(deadline) {
			logs, _ := exec.Command(docker, "logs", ctr).CombinedOutput()
			t.Fatalf("container did not become %s within %s: health %+v, logs %s", want, within, h, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// buildTestImage builds an image FROM scratch holding a static
// tend-health, the tiny server healthsrv and the files of testdata/dir, and
// returns its name (also the container name to use); both are removed at
// the end of the test.
func buildTestImage(t *testing.T, docker, dir string, extra ...string) string {
	t.Helper()
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "tend-test-health-" + hex.EncodeToString(rnd[:])
	ctxDir := t.TempDir()
	wd, err := os.Getwd()
	require.NoError(t, err)
	goBuildStatic(t, wd, ".", filepath.Join(ctxDir, "tend-health"))
	srcDir := t.TempDir()
	src, err := os.ReadFile("testdata/healthsrv/main.go.txt")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(srcDir, "main.go"), src, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(srcDir, "go.mod"), []byte("module healthsrv\n\ngo 1.22\n"), 0o644))
	goBuildStatic(t, srcDir, ".", filepath.Join(ctxDir, "healthsrv"))
	entries, err := os.ReadDir(filepath.Join("testdata", dir))
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(ctxDir, e.Name()), b, 0o644))
	}
	for _, f := range extra {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(ctxDir, filepath.Base(f)), b, 0o644))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var b []byte
	// The engine is shared: another test's image prune may remove this
	// build's intermediate image between two steps. Try again then.
	for range 3 {
		build := exec.CommandContext(ctx, docker, "build", "-q", "--label", "tend.test=health", "-t", name, ctxDir)
		build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		b, err = build.CombinedOutput()
		if err == nil || !strings.Contains(string(b), "unable to find image") {
			break
		}
	}
	require.NoError(t, err, "docker build: %s", b)
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", name).Run() })
	return name
}

// runTestContainer starts image as a container of the same name, removed
// at the end of the test.
func runTestContainer(t *testing.T, docker, name string, args ...string) {
	t.Helper()
	b, err := exec.Command(docker, append(append([]string{"run", "-d", "--name", name, "--label", "tend.test=health"}, args...), name)...).CombinedOutput()
	require.NoError(t, err, "docker run: %s", b)
	t.Cleanup(func() { exec.Command(docker, "rm", "-f", name).Run() })
}

// newestFailure is the newest failed result Docker kept.
func newestFailure(h dockerHealth) (exit int, output string) {
	for _, l := range h.Log {
		if l.ExitCode != 0 {
			exit, output = l.ExitCode, l.Output
		}
	}
	return exit, output
}

// TestDockerHealthcheck builds an image FROM scratch holding a static
// tend-health and a tiny server, and watches Docker's own HEALTHCHECK go
// healthy, then unhealthy once the server stops listening.
func TestDockerHealthcheck(t *testing.T) {
	testenv.Short(t)
	docker := testenv.Docker(t)
	name := buildTestImage(t, docker, "healthsrv")
	runTestContainer(t, docker, name)

	h := waitHealth(t, docker, name, "healthy", 30*time.Second)
	last := h.Log[len(h.Log)-1]
	assert.Equal(t, 0, last.ExitCode)
	assert.Contains(t, last.Output, "pass http app: GET http://127.0.0.1:8080/: status 200")
	assert.Contains(t, last.Output, "healthy (readiness")

	b, err := exec.Command(docker, "exec", name, "/healthsrv", "-stop").CombinedOutput()
	require.NoError(t, err, "docker exec: %s", b)
	stopped := time.Now()
	// Interval 1s, retries 1: the next probe or the one after sees it.
	h = waitHealth(t, docker, name, "unhealthy", 15*time.Second)
	t.Logf("unhealthy %s after the server stopped", time.Since(stopped).Round(100*time.Millisecond))
	code, out := newestFailure(h)
	assert.Equal(t, 1, code, "%+v", h.Log)
	assert.Contains(t, out, "fail http app: GET http://127.0.0.1:8080/: connection refused")
	assert.Contains(t, out, "fail tcp app-port")
	assert.True(t, strings.HasSuffix(strings.TrimSpace(out), ")"), out)
	assert.LessOrEqual(t, len(out), 4096)
}

// TestDockerHealthcheckFrom: the container's main process is a resident
// tend-health --serve; Docker's HEALTHCHECK is tend-health --from, which
// answers from the last results. The container starts unhealthy (nothing
// listens on 8080), turns healthy when the server starts, and unhealthy
// again when it stops. The limits check reads the container's real cgroup
// and /dev/shm (docker run --memory and --shm-size).
func TestDockerHealthcheckFrom(t *testing.T) {
	testenv.Short(t)
	docker := testenv.Docker(t)
	name := buildTestImage(t, docker, "healthsrv-from")
	runTestContainer(t, docker, name, "--memory", "256m", "--shm-size", "64m")

	h := waitHealth(t, docker, name, "unhealthy", 30*time.Second)
	code, out := newestFailure(h)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "fail http app: GET http://127.0.0.1:8080/: connection refused")
	assert.Contains(t, out, "unhealthy: 1 of 3 checks failed (readiness")

	b, err := exec.Command(docker, "exec", "-d", name, "/healthsrv").CombinedOutput()
	require.NoError(t, err, "docker exec: %s", b)
	h = waitHealth(t, docker, name, "healthy", 30*time.Second)
	last := h.Log[len(h.Log)-1]
	assert.Equal(t, 0, last.ExitCode)
	assert.Contains(t, last.Output, "pass http app: GET http://127.0.0.1:8080/: status 200")
	assert.Contains(t, last.Output, "pass limits: memory 256.0MiB, /dev/shm 64.0MiB")
	assert.Contains(t, last.Output, "healthy (readiness")
	var took []time.Duration
	for _, l := range h.Log {
		took = append(took, l.End.Sub(l.Start))
	}
	t.Logf("probe durations as Docker timed them (exec included): %v", took)

	b, err = exec.Command(docker, "exec", name, "/healthsrv", "-stop").CombinedOutput()
	require.NoError(t, err, "docker exec: %s", b)
	h = waitHealth(t, docker, name, "unhealthy", 15*time.Second)
	code, out = newestFailure(h)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "fail http app: GET http://127.0.0.1:8080/: connection refused")
}

// TestExampleConfigInDocker runs examples/tend.yaml's readiness checks in a
// container: under the documented docker run (--shm-size 8g --memory 48g
// -e JUPYTER_TOKEN) the disk and limits checks pass; without those flags
// the limits check fails naming them, and a full /dev/shm fails its disk
// check. (No GPU and no Jupyter here: those checks fail, for the reasons
// they name; their own tests cover them.)
func TestExampleConfigInDocker(t *testing.T) {
	testenv.Short(t)
	docker := testenv.Docker(t)
	image := buildTestImage(t, docker, "example", "../../examples/tend.yaml")
	probe := func(args ...string) string {
		t.Helper()
		var rnd [4]byte
		rand.Read(rnd[:])
		name := image + "-" + hex.EncodeToString(rnd[:])
		argv := append(append([]string{"run", "--rm", "--name", name, "--label", "tend.test=health"}, args...), image, "--profile", "readiness", "--timeout", "5s")
		out, err := exec.Command(docker, argv...).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("docker run: %v: %s", err, out)
		}
		return string(out)
	}
	out := probe("--shm-size", "8g", "--memory", "48g", "-e", "JUPYTER_TOKEN=t0ken")
	assert.Regexp(t, `(?m)^pass disk /: `, out)
	assert.Regexp(t, `(?m)^pass disk /dev/shm: 8.0GiB free of 8.0GiB`, out)
	assert.Regexp(t, `(?m)^pass limits: memory 48.0GiB, /dev/shm 8.0GiB`, out)
	assert.Regexp(t, `(?m)^fail gpu: cannot run: this build has no NVML support`, out, "a static build says so")
	assert.Regexp(t, `(?m)^fail http jupyter: GET http://127.0.0.1:8888/api/status: connection refused`, out)
	assert.NotContains(t, out, "torch", "torch runs in the startup profile only")

	out = probe("-e", "JUPYTER_TOKEN=t0ken")
	assert.Regexp(t, `(?m)^fail limits: no memory limit: .*; /dev/shm is 64.0MiB, under 1.0GiB`, out)
	out = probe("--shm-size", "8g", "--memory", "48g")
	assert.Regexp(t, `(?m)^fail http jupyter: cannot run: environment variable JUPYTER_TOKEN is not set`, out)

	// A full /dev/shm: a tmpfs filled here, mounted there.
	full := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tend-test", full).Run(); err != nil {
		testenv.Missing(t, "mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", full).Run() })
	exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(full, "fill"), "bs=64k").Run()
	out = probe("--shm-size", "8g", "--memory", "48g", "-e", "JUPYTER_TOKEN=t0ken", "--mount", "type=bind,source="+full+",target=/dev/shm")
	assert.Regexp(t, `(?m)^fail disk /dev/shm: .*the file system is full`, out)
}
