package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryKindOfProblemInOneRun: an unknown key, a bad value, an
// allocation failure, validation problems, bad names and a duplicate user
// are all reported in one run, sorted by line, and the exit status is 2.
func TestEveryKindOfProblemInOneRun(t *testing.T) {
	code, out, errOut := runCmd(t, "--spec", "testdata/everything.yaml", "--check")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	want := []string{
		`testdata/everything.yaml:7: field defaults.memroy: unknown key "memroy" in a user's settings (did you mean memory?)`,
		`testdata/everything.yaml:10: user alice: field users[0].gpus: asks for 3 GPUs but only 2 of the host's 2 are free`,
		`testdata/everything.yaml:12: user alice: field users[0].cpus: cpus "abc": not a number of CPUs`,
		`testdata/everything.yaml:13: user Dave_GPU.1: field users[1].shm_size: 64MiB is not below the memory limit 4MiB`,
		`testdata/everything.yaml:13: user Dave_GPU.1: field users[1].name: "Dave_GPU.1" cannot name a Kubernetes container or Pod`,
		`testdata/everything.yaml:14: user Dave_GPU.1: field users[1].memory: 4MiB is below docker's minimum of 6MiB`,
		`testdata/everything.yaml:15: user Dave_GPU.1: field users[1].env.1BAD: "1BAD" is not an environment variable name Kubernetes accepts`,
		`testdata/everything.yaml:17: user bob: field users[2].image: "Hqi-Busybox:1" is not an image reference docker accepts`,
		`testdata/everything.yaml:19: user bob: field users[3].name: two users are named "bob": this one and the one on line 16 (users[2])`,
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	var problems []string
	for _, l := range lines {
		if !strings.Contains(l, ": warning: ") {
			problems = append(problems, l)
		}
	}
	require.Len(t, problems, len(want), "%s", errOut)
	for i, w := range want {
		assert.True(t, strings.HasPrefix(problems[i], w), "problem %d:\n got %s\nwant %s...", i, problems[i], w)
	}
	// Sorted by line, warnings included.
	last := 0
	re := regexp.MustCompile(`^testdata/everything\.yaml:(\d+): `)
	for _, l := range lines {
		m := re.FindStringSubmatch(l)
		require.NotNil(t, m, l)
		n, _ := strconv.Atoi(m[1])
		assert.GreaterOrEqual(t, n, last, "not sorted: %s", l)
		last = n
	}
	assert.NotContains(t, errOut, "level=", "plain lines, no slog records")
}

func writeSpec(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

// TestGPUsAllWithoutGPUs: `gpus: all` on a host without GPUs is a problem,
// unless the host is described by hand (then a warning, and --gpus all).
func TestGPUsAllWithoutGPUs(t *testing.T) {
	if _, err := os.Stat("/proc/driver/nvidia/gpus"); err == nil {
		t.Skip("this machine has NVIDIA GPUs")
	}
	p := writeSpec(t, "container: {name: box, image: busybox, gpus: all, memory: 1g, memory_swap: 1g}\n")
	code, _, errOut := runCmd(t, "--spec", p, "--check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "field container.gpus: all, but the host has no GPU")

	p = writeSpec(t, "container: {name: box, image: busybox, gpus: 1, memory: 1g, memory_swap: 1g}\n")
	code, _, errOut = runCmd(t, "--spec", p, "--check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "asks for 1 GPU(s) but the host has none")

	p = writeSpec(t, "host: {memory: 8g, cpus: 2}\ncontainer: {name: box, image: busybox, gpus: all, memory: 1g, memory_swap: 1g}\n")
	code, out, errOut := runCmd(t, "--spec", p, "--format", "docker-args")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "warning: user box: field container.gpus: all, on a host described without GPUs")
	assert.Contains(t, out, "--gpus all")
}

// TestDuplicateUsersWarnOnceAndNeverShareGPU0.
func TestDuplicateUsersWarnOnce(t *testing.T) {
	p := writeSpec(t, `host: {memory: 64g, cpus: 8, gpus: ["0", "1"]}
defaults: {image: busybox, memory: 1g}
users:
  - {name: ann, gpus: 1}
  - {name: ann, gpus: 1}
`)
	code, _, errOut := runCmd(t, "--spec", p, "--check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `spec.yaml:5: user ann: field users[1].name: two users are named "ann": this one and the one on line 4 (users[0])`)
	assert.Equal(t, 1, strings.Count(errOut, "memory_swap: not set"), "a warning inherited from defaults prints once:\n%s", errOut)
	assert.Contains(t, errOut, "user ann (and 1 more): field defaults.memory_swap")
	assert.NotContains(t, errOut, "GPU 0 is also", "duplicates do not share GPU 0")
}

// TestBoundedInputs: nonsense counts, /dev/zero and FIFOs end quickly with
// a clear error.
func TestBoundedInputs(t *testing.T) {
	p := writeSpec(t, "host: {memory: 1g, cpus: 400000000}\ncontainer: {name: box, image: busybox}\n")
	code, _, errOut := runCmd(t, "--spec", p, "--check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "400000000 CPUs, over the limit of 65536 (MaxCPUs)")

	start := time.Now()
	code, _, errOut = runCmd(t, "--spec", "/dev/zero", "--check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "/dev/zero: read spec: more than 33554432 bytes (MaxSpecSize)")
	assert.Less(t, time.Since(start), 20*time.Second)

	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	code, _, errOut = runCmd(t, "--spec", fifo, "--check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "spec is empty", "a FIFO without a writer reads as empty, at once")

	// A writer that holds the FIFO open and never writes: the deadline.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	require.NoError(t, err)
	defer w.Close()
	start = time.Now()
	code, _, errOut = runCmd(t, "--spec", fifo, "--check", "--timeout", "300ms")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no complete spec before the deadline")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestComposeDefinesSecrets(t *testing.T) {
	code, out, errOut := runCmd(t, "--spec", "../../examples/quota.yaml", "--format", "compose")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "JUPYTER_TOKEN_FILE: /run/secrets/jupyter_token")
	assert.Contains(t, out, "\nsecrets:\n  jupyter_token:\n    file: /etc/tend/jupyter_token\n")

	p := writeSpec(t, "container: {name: box, image: busybox, memory: 1g, memory_swap: 1g, env: {TOKEN: /run/secrets/tok}}\nhost: {memory: 8g, cpus: 2}\n")
	code, _, errOut = runCmd(t, "--spec", p)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `field container.env.TOKEN: TOKEN points at secret "tok", which this user does not mount`)
}

var _ = context.Background
