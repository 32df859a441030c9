package health

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := (&Torch{Python: python}).Check(ctx)
	require.Equal(t, StatusPass, r.Status, r.Message)
	assert.Regexp(t, `^torch \S+ \((CPU-only build|CUDA \S+)\): matmul ok on cpu$`, r.Message)
	assert.Equal(t, "cpu", r.Details["device"])
}

func TestTorchRequireCUDAFailsOnCPU(t *testing.T) {
	python := realTorch(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := (&Torch{Python: python, RequireCUDA: true}).Check(ctx)
	assert.Equal(t, StatusFail, r.Status)
	assert.Regexp(t, `torch \S+: (torch \S+ is a CPU-only build|torch.cuda.is_available\(\) is False)`, r.Message)
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
