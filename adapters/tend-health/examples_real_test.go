package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopJupyter()
	os.Exit(code)
}

// torchPython returns a python3 that imports torch (Debian's CPU build
// here), or calls Missing.
func torchPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{os.Getenv("TEND_TORCH_PYTHON"), "/usr/bin/python3", "python3"} {
		if py != "" && exec.Command(py, "-c", "import torch").Run() == nil {
			return py
		}
	}
	testenv.Missing(t, "no python3 with torch (apt-get install python3-torch, or set TEND_TORCH_PYTHON)")
	return ""
}

// exampleConfig is examples/tend.yaml with what differs on this machine
// replaced: the Jupyter URL (a real notebook server on a free port), the
// python with torch, the limits read from a fixture of a container started
// as documented (--memory 48g --shm-size 8g) unless limitsRoot says
// otherwise, and edits, pairs of old and new text, applied after.
func exampleConfig(t *testing.T, jupyterBase, python, limitsRoot string, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/tend.yaml")
	require.NoError(t, err)
	s := string(b)
	replace := func(old, new string) {
		t.Helper()
		require.Contains(t, s, old, "examples/tend.yaml changed: update this test")
		s = strings.Replace(s, old, new, 1)
	}
	replace("http://127.0.0.1:8888", jupyterBase)
	replace("torch: {python: python3,", "torch: {python: "+python+",")
	replace("limits: {", "limits: {root: "+limitsRoot+", ")
	for i := 0; i+1 < len(edits); i += 2 {
		replace(edits[i], edits[i+1])
	}
	return writeConfig(t, s)
}

// TestExampleProfilesReal runs examples/tend.yaml's three profiles, as the
// Dockerfile's HEALTHCHECK and the Kubernetes probes run them, against a
// real Jupyter server (with its token) and Debian's CPU torch. This
// machine has no GPU: the example's gpu check and its CUDA torch proof
// must fail, naming why; made optional (gpu) and CPU (torch), every check
// passes. Then each check fails when what it guards breaks: a wrong token,
// a full /dev/shm, no memory limit and a small /dev/shm.
func TestExampleProfilesReal(t *testing.T) {
	testenv.Short(t)
	python := torchPython(t)
	base, token := testenv.Jupyter(t)
	t.Setenv("JUPYTER_TOKEN", token)
	limited := "testdata/limits/limited"
	profile := func(cfg, p string, extra ...string) (int, string) {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"--config", cfg, "--profile", p}, extra...)...)
		t.Logf("--profile %s: exit %d\n%s%s", p, code, out, errOut)
		return code, out
	}

	t.Run("as shipped, without a GPU", func(t *testing.T) {
		// One startup attempt: the gpu check fails on every one.
		cfg := exampleConfig(t, base, python, limited, "startup: {interval: 10s,", "startup: {interval: 1h,")
		gpuFail := `(?m)^fail gpu: cannot run: (this build has no NVML support|NVML library not found)`
		code, out := profile(cfg, "liveness")
		assert.Equal(t, 1, code)
		assert.Regexp(t, gpuFail, out)
		assert.Regexp(t, `(?m)^pass disk /: `, out)
		assert.Regexp(t, `(?m)^pass disk /dev/shm: `, out)

		code, out = profile(cfg, "readiness")
		assert.Equal(t, 1, code)
		assert.Regexp(t, gpuFail, out)
		assert.Regexp(t, `(?m)^pass http jupyter: GET .*/api/status: status 200`, out)
		assert.Regexp(t, `(?m)^pass limits: memory 48.0GiB, /dev/shm 8.0GiB`, out)
		assert.NotContains(t, out, token)

		code, out = profile(cfg, "startup", "--timeout", "30s")
		assert.Equal(t, 1, code)
		assert.Regexp(t, gpuFail, out)
		assert.Regexp(t, `(?m)^fail torch: torch 1\.\d+\S*: a CPU-only build \(torch.version.cuda is None\), and the check requires CUDA`, out, "a CPU torch cannot prove CUDA, and says so")
	})

	t.Run("gpu optional and torch on the CPU", func(t *testing.T) {
		cfg := exampleConfig(t, base, python, limited,
			"gpu: {min_count: 1,", "gpu: {optional: true, min_count: 1,",
			"require_cuda: true", "require_cuda: false")
		for _, p := range []string{"liveness", "readiness"} {
			code, out := profile(cfg, p)
			assert.Equal(t, 0, code, out)
			assert.Regexp(t, `(?m)^skip gpu: `, out)
		}
		code, out := profile(cfg, "startup", "--timeout", "60s")
		assert.Equal(t, 0, code, out)
		assert.Regexp(t, `(?m)^pass torch: torch 1\.\d+.* \(CPU-only build\): matmul ok on cpu`, out)
		assert.Regexp(t, `(?m)^pass http jupyter: `, out)
	})

	t.Run("each check fails when what it guards breaks", func(t *testing.T) {
		optional := []string{"gpu: {min_count: 1,", "gpu: {optional: true, min_count: 1,"}
		t.Setenv("JUPYTER_TOKEN", "not-"+token)
		code, out := profile(exampleConfig(t, base, python, limited, optional...), "readiness")
		assert.Equal(t, 1, code)
		assert.Regexp(t, `(?m)^fail http jupyter: GET .*/api/status: status 403`, out)
		assert.NotContains(t, out, "not-"+token)
		t.Setenv("JUPYTER_TOKEN", token)

		code, out = profile(exampleConfig(t, base, python, "testdata/limits/unlimited", optional...), "readiness")
		assert.Equal(t, 1, code)
		assert.Regexp(t, `(?m)^fail limits: no memory limit: .*; /dev/shm is 64.0MiB, under 1.0GiB`, out)

		full := t.TempDir()
		if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,nr_inodes=64", "tend-h14-test", full).Run(); err != nil {
			testenv.Missing(t, "mount a tmpfs (needs root): %v", err)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", full).Run() })
		exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(full, "fill"), "bs=4k").Run()
		cfg := exampleConfig(t, base, python, limited, append(optional, "{path: /dev/shm}", "{path: "+full+"}")...)
		code, out = profile(cfg, "liveness")
		assert.Equal(t, 1, code)
		assert.Regexp(t, `(?m)^fail disk `+full+`: .*the file system is full`, out)
	})
}
