package health

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strconv"
	"strings"
)

//go:embed torch_check.py
var torchScript string

// Torch proves PyTorch can compute: it runs Python with a small script that
// imports torch, reports its version and CUDA build, and on each device runs
// real kernels (a matmul, an identity product) whose results it checks.
// With RequireCUDA the devices are every device CUDA sees, or those listed
// in Devices (indices as CUDA numbers them after CUDA_VISIBLE_DEVICES), and
// a CPU-only build or an unavailable CUDA fails; without it the proof runs
// on the CPU. A device that fails is named in the message with its error;
// the others are still proven.
//
// The interpreter runs in its own process group, which is killed when the
// check's deadline passes (give it its own Configured.Timeout: importing
// torch alone takes seconds). A failure's message ends with the last lines
// of stderr, with anything unprintable replaced.
type Torch struct {
	// Python is the interpreter (default "python3", looked up in PATH).
	Python      string
	RequireCUDA bool
	// Devices lists the CUDA devices to prove (nil = every visible one).
	Devices []int
	// Env replaces the environment (nil = inherit).
	Env []string
}

// Name is "torch".
func (c *Torch) Name() string { return "torch" }

// TorchInfo is what the script reports.
type TorchInfo struct {
	Torch         string        `json:"torch"`
	CUDABuild     *string       `json:"cuda_build"`
	DeviceCount   int           `json:"device_count,omitempty"`
	Devices       []TorchDevice `json:"devices,omitempty"`
	ImportSeconds float64       `json:"import_s"`
	OK            bool          `json:"ok"`
	Error         string        `json:"error,omitempty"`
}

// TorchDevice is what the script found on one device.
type TorchDevice struct {
	Device          string  `json:"device"` // "cuda:0", "cpu"
	Name            string  `json:"name,omitempty"`
	OK              bool    `json:"ok"`
	Error           string  `json:"error,omitempty"`
	MatmulSeconds   float64 `json:"matmul_s"`
	MemoryAllocated int64   `json:"memory_allocated,omitempty"`
}

func (d TorchDevice) String() string {
	if d.Name != "" {
		return d.Device + " (" + d.Name + ")"
	}
	return d.Device
}

// args returns the script's arguments.
func (c *Torch) args() []string {
	if !c.RequireCUDA {
		return []string{"cpu"}
	}
	if len(c.Devices) == 0 {
		return []string{"cuda"}
	}
	ids := make([]string, len(c.Devices))
	for i, d := range c.Devices {
		ids[i] = strconv.Itoa(d)
	}
	return []string{"cuda", strings.Join(ids, ",")}
}

// Check runs the script once.
func (c *Torch) Check(ctx context.Context) Result {
	python := or(c.Python, "python3")
	r := runGroup(ctx, append([]string{python, "-c", torchScript}, c.args()...), c.Env)
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
		d = map[string]any{"torch": info.Torch, "cuda_build": info.CUDABuild, "devices": info.Devices}
	}
	var bad, good []string
	for _, dev := range info.Devices {
		if dev.OK {
			good = append(good, dev.Device)
		} else {
			bad = append(bad, fmt.Sprintf("%s: %s", dev, or(dev.Error, "did not finish")))
		}
	}
	switch {
	case perr == nil && info.Error != "":
		return failf("torch %s: %s", info.Torch, info.Error).with(d)
	case perr == nil && len(bad) > 0:
		msg := fmt.Sprintf("torch %s: failed on %s", info.Torch, strings.Join(bad, "; "))
		if len(good) > 0 {
			msg += "; ok on " + strings.Join(good, ", ")
		}
		return failf("%s", msg).with(d)
	case errors.Is(r.Err, exec.ErrNotFound) || errors.Is(r.Err, fs.ErrNotExist):
		return CannotRun(fmt.Errorf("python %s: %w", python, r.Err), "install python3 with torch or set health.checks.torch.python")
	case r.Err != nil:
		return failf("%s", withStderr(r.describe("python "+python, 0)))
	case perr != nil:
		return failf("%s", withStderr(perr.Error()))
	case !info.OK || len(info.Devices) == 0:
		return failf("torch %s: the script did not finish its checks", info.Torch).with(d)
	}
	build := "CPU-only build"
	if info.CUDABuild != nil {
		build = "CUDA " + *info.CUDABuild
	}
	return passf("torch %s (%s): matmul ok on %s", info.Torch, build, devicesSummary(info.Devices)).with(d)
}

// devicesSummary names the devices: "cpu", "cuda:0 (NVIDIA H100)", or
// "8 devices: cuda:0, ..., cuda:7 (NVIDIA H100)" when they share a name.
func devicesSummary(devs []TorchDevice) string {
	if len(devs) == 1 {
		return devs[0].String()
	}
	ids := make([]string, len(devs))
	same := true
	for i, d := range devs {
		ids[i] = d.Device
		same = same && d.Name == devs[0].Name
	}
	s := fmt.Sprintf("%d devices: %s", len(devs), strings.Join(ids, ", "))
	if same && devs[0].Name != "" {
		s += " (" + devs[0].Name + ")"
	}
	return s
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
