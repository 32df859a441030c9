//go:build cgo && !nonvml

package nvmlgpu

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/health"
)

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
