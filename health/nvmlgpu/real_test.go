//go:build cgo && !nonvml

package nvmlgpu

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/health"
)

// TestGPUReal runs the check against the machine's own NVML, one-shot and
// started (events registered). It is opt-in (TEND_GPU=1) since most
// machines, CI included, have no GPU.
func TestGPUReal(t *testing.T) {
	if os.Getenv("TEND_GPU") != "1" {
		t.Skip("set TEND_GPU=1 on a machine with an NVIDIA GPU to run the real NVML check")
	}
	// One-shot, as a HEALTHCHECK exec probe runs it: Init, read, Shutdown.
	for i := range 3 {
		start := time.Now()
		r := New(health.GPUOptions{MinCount: 1}).Check(context.Background())
		t.Logf("one-shot check %d: %s (%s)", i, r.Message, time.Since(start).Round(time.Microsecond))
		require.NotEqual(t, health.StatusFail, r.Status, r.Message)
	}
	// Too many GPUs asked for fails, naming the count.
	r := New(health.GPUOptions{MinCount: 64}).Check(context.Background())
	assert.Equal(t, health.StatusFail, r.Status)
	assert.Contains(t, r.Message, "want at least 64")

	// Started: NVML stays open, events registered.
	g := New(health.GPUOptions{MinCount: 1})
	p := &health.Prober{Timeout: 20 * time.Second, Checks: []health.Check{g}}
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	for i := range 3 {
		rep := p.Run(context.Background(), health.ProfileLiveness)
		require.Len(t, rep.Results, 1, "the GPU check is part of liveness")
		t.Logf("started check %d: %s", i, rep.Results[0].Line())
		assert.True(t, rep.Healthy(), rep.String())
	}
	rep := p.Run(context.Background(), health.ProfileReadiness)
	b, _ := json.MarshalIndent(rep.Results[0].Details, "", "  ")
	t.Logf("details: %s", b)
	devs := rep.Results[0].Details["devices"].([]health.GPUDevice)
	require.NotEmpty(t, devs)
	for _, d := range devs {
		assert.NotEmpty(t, d.UUID)
		assert.Positive(t, d.MemoryTotal)
		assert.False(t, d.Lost)
		assert.LessOrEqual(t, d.ECCUncorrectedVolatile, int64(0), "uncorrectable ECC errors on %s", d.UUID)
	}
	t.Logf("XIDs seen while started: %v", g.XIDs())
}

// TestNVMLFootprintReal measures what NVML adds to a process's memory,
// step by step, each way of starting it in a fresh process (a library
// once loaded stays): plain Init, Init with NVML_INIT_FLAG_NO_ATTACH, and
// the started check with and without the CUDA driver version (which makes
// NVML load libcuda). It logs RSS, anonymous and file-backed, after each
// step; it fails only when NVML cannot start. Opt-in like TestGPUReal.
func TestNVMLFootprintReal(t *testing.T) {
	if os.Getenv("TEND_GPU") != "1" {
		t.Skip("set TEND_GPU=1 on a machine with an NVIDIA GPU to measure NVML's memory")
	}
	if mode := os.Getenv("TEND_NVML_FOOTPRINT"); mode != "" {
		footprintChild(t, mode)
		return
	}
	for _, mode := range []string{"init", "noattach", "check-started", "check-started+cuda"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNVMLFootprintReal$", "-test.v")
		cmd.Env = append(os.Environ(), "TEND_NVML_FOOTPRINT="+mode)
		out, err := cmd.CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "footprint ") {
				t.Log(strings.TrimSpace(l))
			}
		}
		require.NoError(t, err, "%s: %s", mode, out)
	}
}

func footprintChild(t *testing.T, mode string) {
	lib := nvml.New()
	step := func(name string) { t.Logf("footprint %-20s %-26s %s", mode, name, memStatus()) }
	step("before")
	switch mode {
	case "init", "noattach":
		ret := lib.Init()
		if mode == "noattach" {
			ret = lib.InitWithFlags(nvml.INIT_FLAG_NO_ATTACH)
		}
		require.Equal(t, nvml.SUCCESS, ret, nvml.ErrorString(ret))
		step("init")
		n, _ := lib.DeviceGetCount()
		for i := range n {
			dev, _ := lib.DeviceGetHandleByIndex(i)
			dev.GetTemperature(nvml.TEMPERATURE_GPU)
			dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
			dev.GetRemappedRows()
		}
		step("device queries")
		set, _ := lib.EventSetCreate()
		for i := range n {
			dev, _ := lib.DeviceGetHandleByIndex(i)
			dev.RegisterEvents(eventMask, set)
		}
		step("events registered")
		lib.SystemGetCudaDriverVersion()
		step("cuda driver version")
		lib.Shutdown()
		step("shutdown")
	default:
		g := &GPU{Lib: lib, GPUOptions: health.GPUOptions{MinCount: 1}}
		require.NoError(t, g.Start(context.Background()))
		defer g.Close()
		step("started")
		for range 10 {
			r := g.Check(context.Background())
			require.NotEqual(t, health.StatusFail, r.Status, r.Message)
		}
		step("10 checks")
		if mode == "check-started+cuda" {
			lib.SystemGetCudaDriverVersion()
			step("cuda driver version")
		}
		time.Sleep(time.Second)
		step("idle 1s")
	}
}

// memStatus reads VmRSS, RssAnon and RssFile of this process.
func memStatus() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var parts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		for _, k := range []string{"VmRSS:", "RssAnon:", "RssFile:"} {
			if v, ok := strings.CutPrefix(s.Text(), k); ok {
				parts = append(parts, fmt.Sprintf("%s %s", strings.TrimSuffix(k, ":"), strings.Join(strings.Fields(v), " ")))
			}
		}
	}
	return strings.Join(parts, ", ")
}
