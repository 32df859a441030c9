package health

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed torch_check.py
var torchScript string

// Torch proves PyTorch can compute: it runs Python with a small script that
// imports torch, reports its version and CUDA build, allocates tensors on
// the device and runs a real matmul whose result it checks. With
// RequireCUDA the device is cuda:0 and a CPU-only build or an unavailable
// CUDA fails; without it the proof runs on the CPU.
//
// The interpreter runs in its own process group, which is killed when the
// check's deadline passes (give it its own Configured.Timeout: importing
// torch alone takes seconds). A failure's message ends with the last lines
// of stderr.
type Torch struct {
	// Python is the interpreter (default "python3", looked up in PATH).
	Python      string
	RequireCUDA bool
	// Env replaces the environment (nil = inherit).
	Env []string
}

// Name is "torch".
func (c *Torch) Name() string { return "torch" }

// TorchInfo is what the script reports.
type TorchInfo struct {
	Torch           string  `json:"torch"`
	CUDABuild       *string `json:"cuda_build"`
	Device          string  `json:"device"`
	DeviceName      string  `json:"device_name,omitempty"`
	DeviceCount     int     `json:"device_count,omitempty"`
	MemoryAllocated int64   `json:"memory_allocated,omitempty"`
	ImportSeconds   float64 `json:"import_s"`
	MatmulSeconds   float64 `json:"matmul_s"`
	OK              bool    `json:"ok"`
	Error           string  `json:"error,omitempty"`
}

// Check runs the script once.
func (c *Torch) Check(ctx context.Context) Result {
	python := or(c.Python, "python3")
	mode := "cpu"
	if c.RequireCUDA {
		mode = "cuda"
	}
	r := runGroup(ctx, []string{python, "-c", torchScript, mode}, c.Env)
	info, perr := parseTorchOutput(r.Stdout)
	stderr := lastLines(r.Stderr, 3)
	withStderr := func(msg string) string {
		if stderr != "" {
			return msg + ": " + stderr
		}
		return msg
	}
	var d map[string]any
	if perr == nil {
		d = map[string]any{"torch": info.Torch, "device": info.Device, "cuda_build": info.CUDABuild}
		if info.DeviceName != "" {
			d["device_name"] = info.DeviceName
		}
	}
	switch {
	case perr == nil && info.Error != "":
		return failf("torch %s: %s", info.Torch, info.Error).with(d)
	case r.Err != nil:
		return failf("%s", withStderr(r.describe("python "+python, 0)))
	case perr != nil:
		return failf("%s", withStderr(perr.Error()))
	case !info.OK:
		return failf("torch %s: the script did not finish its checks", info.Torch).with(d)
	}
	where := info.Device
	if info.DeviceName != "" {
		where += " (" + info.DeviceName + ")"
	}
	build := "CPU-only build"
	if info.CUDABuild != nil {
		build = "CUDA " + *info.CUDABuild
	}
	return passf("torch %s (%s): matmul ok on %s", info.Torch, build, where).with(d)
}

// parseTorchOutput reads the script's last JSON line; other output (user
// site-packages printing warnings) may precede it.
func parseTorchOutput(out []byte) (TorchInfo, error) {
	var info TorchInfo
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := bytes.TrimSpace(lines[i])
		if len(l) == 0 || l[0] != '{' {
			continue
		}
		info = TorchInfo{}
		if err := json.Unmarshal(l, &info); err == nil && (info.Torch != "" || info.Error != "") {
			return info, nil
		}
	}
	shown := strings.TrimSpace(lastLines(string(out), 2))
	if shown == "" {
		return info, fmt.Errorf("torch script printed no result")
	}
	return info, fmt.Errorf("torch script printed no result, only %q", cut(shown, 200))
}
