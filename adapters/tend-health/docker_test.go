package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, b)
}

type dockerHealth struct {
	Status string
	Log    []struct {
		ExitCode int
		Output   string
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

// TestDockerHealthcheck builds an image FROM scratch holding a static
// tend-health and a tiny server, and watches Docker's own HEALTHCHECK go
// healthy, then unhealthy once the server stops listening.
func TestDockerHealthcheck(t *testing.T) {
	testenv.Short(t)
	docker := testenv.Docker(t)
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
	for _, f := range []string{"Dockerfile", "tend.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata/healthsrv", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(ctxDir, f), b, 0o644))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, docker, "build", "-q", "-t", name, ctxDir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "docker build: %s", b)
	t.Cleanup(func() { exec.Command(docker, "rmi", "-f", name).Run() })

	b, err = exec.CommandContext(ctx, docker, "run", "-d", "--name", name, "--label", "tend.test=health", name).CombinedOutput()
	require.NoError(t, err, "docker run: %s", b)
	t.Cleanup(func() { exec.Command(docker, "rm", "-f", name).Run() })

	h := waitHealth(t, docker, name, "healthy", 30*time.Second)
	last := h.Log[len(h.Log)-1]
	assert.Equal(t, 0, last.ExitCode)
	assert.Contains(t, last.Output, "pass http app: GET http://127.0.0.1:8080/: status 200")
	assert.Contains(t, last.Output, "healthy (readiness")

	b, err = exec.CommandContext(ctx, docker, "exec", name, "/healthsrv", "-stop").CombinedOutput()
	require.NoError(t, err, "docker exec: %s", b)
	stopped := time.Now()
	// Interval 1s, retries 1: the next probe or the one after sees it.
	h = waitHealth(t, docker, name, "unhealthy", 15*time.Second)
	t.Logf("unhealthy %s after the server stopped", time.Since(stopped).Round(100*time.Millisecond))
	// Docker keeps the last 5 results; take the newest failure.
	for _, l := range h.Log {
		if l.ExitCode != 0 {
			last = l
		}
	}
	assert.Equal(t, 1, last.ExitCode, "%+v", h.Log)
	assert.Contains(t, last.Output, "fail http app: GET http://127.0.0.1:8080/: connection refused")
	assert.Contains(t, last.Output, "fail tcp app-port")
	assert.True(t, strings.HasSuffix(strings.TrimSpace(last.Output), ")"), last.Output)
	assert.LessOrEqual(t, len(last.Output), 4096)
}
