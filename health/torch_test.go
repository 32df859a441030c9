package health

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

const debianPython = "/usr/bin/python3"

var (
	torchOnce sync.Once
	torchErr  error
)

// realTorch returns Debian's python3 after checking it imports torch.
func realTorch(t *testing.T) string {
	t.Helper()
	testenv.Short(t)
	if _, err := os.Stat(debianPython); err != nil {
		testenv.Missing(t, "%s not found (apt-get install python3)", debianPython)
	}
	torchOnce.Do(func() {
		out, err := exec.Command(debianPython, "-c", "import torch").CombinedOutput()
		if err != nil {
			torchErr = &exec.Error{Name: string(out), Err: err}
		}
	})
	if torchErr != nil {
		testenv.Missing(t, "%s cannot import torch (apt-get install python3-torch): %v", debianPython, torchErr)
	}
	return debianPython
}

func TestTorchCPU(t *testing.T) {
	python := realTorch(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	r := (&Torch{Python: python}).Check(ctx)
	require.Equal(t, StatusPass, r.Status, r.Message)
	assert.Regexp(t, `^torch \S+ \((CPU-only build|CUDA \S+)\): matmul ok on cpu$`, r.Message)
	devs := r.Details["devices"].([]TorchDevice)
	require.Len(t, devs, 1)
	assert.Equal(t, "cpu", devs[0].Device)
	assert.True(t, devs[0].OK)
}

func TestTorchRequireCUDAFailsOnCPU(t *testing.T) {
	python := realTorch(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	r := (&Torch{Python: python, RequireCUDA: true}).Check(ctx)
	assert.Equal(t, StatusFail, r.Status)
	assert.Regexp(t, `torch \S+: (a CPU-only build \(torch.version.cuda is None\), and the check requires CUDA|torch.cuda.is_available\(\) is False)`, r.Message)
}

func TestTorchPythonMissing(t *testing.T) {
	for _, py := range []string{"python3.99-tend-missing", "/nonexistent/bin/python3"} {
		r := (&Torch{Python: py}).Check(context.Background())
		assert.Equal(t, StatusFail, r.Status)
		assert.Contains(t, r.Message, "python "+py)
		assert.Regexp(t, "executable file not found|no such file", r.Message)
	}
}

// fakePython writes an executable that stands in for python.
func fakePython(t *testing.T, script string) string {
	p := filepath.Join(t.TempDir(), "python3")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return p
}

func TestTorchGarbageOutput(t *testing.T) {
	tests := []struct {
		name, script string
		msg          string
	}{
		{"garbage on stdout", "echo 'Illegal instruction?'; echo '{not json'", `torch script printed no result, only "Illegal instruction? | {not json"`},
		{"nothing at all", "exit 0", "torch script printed no result"},
		{"crash with a traceback", "echo 'Traceback (most recent call last):' >&2; echo 'ImportError: libcudart.so.12: cannot open shared object file' >&2; exit 1", "exited with status 1: Traceback (most recent call last): | ImportError: libcudart.so.12"},
		{"json without the fields", `echo '{"hello": 1}'`, "printed no result"},
		{"reported error", `echo '{"torch": "2.8.0", "error": "matmul gave a wrong result on cuda:0"}'; exit 4`, "torch 2.8.0: matmul gave a wrong result on cuda:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&Torch{Python: fakePython(t, tt.script)}).Check(context.Background())
			assert.Equal(t, StatusFail, r.Status)
			assert.Contains(t, r.Message, tt.msg)
		})
	}
}

// TestTorchHangKilledAtDeadline: a real python stuck in "import torch"
// (a stand-in torch package that starts a child and sleeps) is killed with
// its whole group at the check's deadline.
func TestTorchHangKilledAtDeadline(t *testing.T) {
	if _, err := os.Stat(debianPython); err != nil {
		testenv.Missing(t, "%s not found (apt-get install python3)", debianPython)
	}
	tok := sleepToken()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "torch"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "torch", "__init__.py"), []byte(
		"import subprocess, sys, time\nsubprocess.Popen(['sleep', '"+tok+"'])\nprint('initialising CUDA', file=sys.stderr, flush=True)\ntime.sleep(60)\n"), 0o644))
	env := append(os.Environ(), "PYTHONPATH="+dir)
	p := &Prober{Timeout: 5 * time.Second, Checks: []Check{
		Configured{Inner: &Torch{Python: debianPython, Env: env}, Timeout: 1500 * time.Millisecond},
	}}
	start := time.Now()
	r := p.Run(context.Background(), ProfileReadiness)
	assert.Less(t, time.Since(start), 1500*time.Millisecond+waitDelay+time.Second)
	require.Len(t, r.Results, 1)
	assert.Equal(t, StatusFail, r.Results[0].Status)
	assert.Contains(t, r.Results[0].Message, "timed out")
	assertNoLeftovers(t, tok)
}

func FuzzParseTorchOutput(f *testing.F) {
	f.Add([]byte(`{"torch": "1.13.0", "cuda_build": null, "device": "cpu", "ok": true}`))
	f.Add([]byte("warning\n{\"torch\": \"2.8\", \"error\": \"x\"}\n"))
	f.Add([]byte("{\n{{\"torch\":1}\n\x00"))
	f.Fuzz(func(t *testing.T, out []byte) {
		info, err := parseTorchOutput(out)
		if err == nil {
			assert.True(t, info.Torch != "" || info.Error != "")
		} else {
			assert.Contains(t, err.Error(), "printed no result")
		}
	})
}

func TestTorchNamesTheFailingDevice(t *testing.T) {
	py := fakePython(t, `echo '{"torch": "2.8.0", "cuda_build": "12.8", "device_count": 3, "devices": [`+
		`{"device": "cuda:0", "name": "NVIDIA H100", "ok": true},`+
		`{"device": "cuda:1", "name": "NVIDIA H100", "error": "RuntimeError: CUDA error: uncorrectable ECC error encountered"},`+
		`{"device": "cuda:2", "name": "NVIDIA H100", "ok": true}], "ok": false}'; exit 4`)
	r := (&Torch{Python: py, RequireCUDA: true}).Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.Equal(t, "torch 2.8.0: failed on cuda:1 (NVIDIA H100): RuntimeError: CUDA error: uncorrectable ECC error encountered; ok on cuda:0, cuda:2", r.Message)
}

func TestTorchPassesEveryDevice(t *testing.T) {
	py := fakePython(t, `[ "$3" = cuda ] && [ "$4" = "0,2" ] || exit 9
echo '{"torch": "2.8.0", "cuda_build": "12.8", "device_count": 3, "devices": [`+
		`{"device": "cuda:0", "name": "NVIDIA H100", "ok": true}, {"device": "cuda:2", "name": "NVIDIA H100", "ok": true}], "ok": true}'`)
	r := (&Torch{Python: py, RequireCUDA: true, Devices: []int{0, 2}}).Check(context.Background())
	assert.Equal(t, StatusPass, r.Status, r.Message)
	assert.Equal(t, "torch 2.8.0 (CUDA 12.8): matmul ok on 2 devices: cuda:0, cuda:2 (NVIDIA H100)", r.Message)
}

func TestTorchBinaryStderrIsPrintable(t *testing.T) {
	py := fakePython(t, `printf 'Segmentation fault\001\033[31m\377\376 core\n' >&2; exit 139`)
	r := (&Torch{Python: py}).Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, "Segmentation fault")
	assert.True(t, utf8.ValidString(r.Message), "%q", r.Message)
	for _, c := range r.Message {
		assert.False(t, unicode.IsControl(c), "control character %q in %q", c, r.Message)
	}
}

func TestTorchPythonMissingCannotRun(t *testing.T) {
	r := (&Torch{Python: "/nonexistent/python3"}).Check(context.Background())
	assert.True(t, r.CannotRun)
	r = Configured{Inner: &Torch{Python: "/nonexistent/python3"}, Optional: true}.Check(context.Background())
	assert.Equal(t, StatusSkip, r.Status)
	assert.Equal(t, SkipReasonOptional, r.SkipReason)
}

// TestTorchCUDAReal proves every visible CUDA device with a real CUDA torch
// (TEND_GPU=1; TEND_TORCH_PYTHON names the interpreter, default python3),
// then asks for a device that does not exist.
func TestTorchCUDAReal(t *testing.T) {
	if os.Getenv("TEND_GPU") != "1" {
		t.Skip("set TEND_GPU=1 (and TEND_TORCH_PYTHON) on a machine with an NVIDIA GPU and CUDA torch")
	}
	py := or(os.Getenv("TEND_TORCH_PYTHON"), "python3")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	r := (&Torch{Python: py, RequireCUDA: true}).Check(ctx)
	t.Logf("%s (%s)", r.Message, time.Since(start).Round(time.Millisecond))
	require.Equal(t, StatusPass, r.Status, r.Message)
	devs := r.Details["devices"].([]TorchDevice)
	require.NotEmpty(t, devs)
	for _, d := range devs {
		t.Logf("%s: ok=%v matmul %.3fs, %d bytes allocated", d, d.OK, d.MatmulSeconds, d.MemoryAllocated)
		assert.True(t, d.OK)
		assert.Positive(t, d.MemoryAllocated, "tensors were on the GPU")
	}
	r = (&Torch{Python: py, RequireCUDA: true, Devices: []int{len(devs) + 5}}).Check(ctx)
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, fmt.Sprintf("cuda:%d does not exist (%d visible)", len(devs)+5, len(devs)))
}
