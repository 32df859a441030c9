package quota

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
	"github.com/tendkit/tend/units"
)

// TestDockerRoundTrip renders a spec to docker run arguments, runs a
// container with them on the real engine (an image FROM scratch holding a
// static probe that calls ReadLimits), and checks that the limits read from
// inside are the spec's. --gpus is dropped: this machine has no GPU.
func TestDockerRoundTrip(t *testing.T) {
	testenv.Short(t)
	docker := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	tag := "tend-test-quota-" + hex.EncodeToString(suffix)
	dir := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "probe"), "./testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\n"), 0o644))
	out, err = exec.CommandContext(ctx, docker, "build", "-q", "-t", tag, dir).CombinedOutput()
	require.NoError(t, err, "docker build: %s", out)
	t.Cleanup(func() { _ = exec.Command(docker, "rmi", "-f", tag).Run() })

	host, err := ReadHost(ctx, HostOptions{})
	require.NoError(t, err)
	q := QuotaSpec{
		Name: tag, Image: tag,
		Memory: 256 * units.MiB, MemorySwap: 256 * units.MiB, MemoryReservation: 128 * units.MiB,
		CPUs: 0.5e9, Cpuset: "0", ShmSize: 96 * units.MiB, PidsLimit: 64,
		// memlock=-1 (NVIDIA's advice) needs CAP_SYS_RESOURCE in the engine,
		// which sandboxed engines lack; stack and nofile prove the path (nofile
		// soft = hard, since Go raises its own soft limit at start).
		Ulimits: []Ulimit{{Name: "stack", Soft: 64 << 20, Hard: 64 << 20}, {Name: "nofile", Soft: 2048, Hard: 2048}},
		Env:     map[string]string{"NVIDIA_VISIBLE_DEVICES": "void"},
	}
	_, err = Validate(host, []QuotaSpec{q}, ValidateOptions{})
	require.NoError(t, err)
	args, err := DockerArgs(q)
	require.NoError(t, err)
	// Run in the foreground and remove it afterwards instead of --detach.
	i := slices.Index(args, "--detach")
	args = slices.Replace(args, i, i+1, "--rm")
	t.Cleanup(func() { _ = exec.Command(docker, "rm", "-f", tag).Run() })
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, docker, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "docker %v: %s", args, stderr.String())

	var got Limits
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())
	t.Logf("limits inside: %s", stdout.String())
	assert.Equal(t, q.Memory, got.Memory, "memory")
	assert.Equal(t, q.CPUs, got.CPUs, "cpus")
	assert.Equal(t, q.Cpuset, got.Cpuset, "cpuset")
	assert.Equal(t, q.PidsLimit, got.PidsMax, "pids")
	assert.Equal(t, q.ShmSize, got.ShmSize, "shm")
	assert.Equal(t, q.MemoryReservation, got.MemoryReservation, "reservation")
	if got.MemorySwap != 0 { // only with swap accounting
		assert.Equal(t, q.MemorySwap, got.MemorySwap, "memory+swap")
	}
	for _, want := range q.Ulimits {
		assert.Contains(t, got.Ulimits, want)
	}
	assert.Empty(t, got.GPUs)
}
