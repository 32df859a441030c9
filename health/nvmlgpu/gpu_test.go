//go:build cgo && !nonvml

package nvmlgpu

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/tendkit/tend/health"
)

// okDevice is a healthy H100 as NVML would describe it.
func okDevice(uuid string) *mock.Device {
	return &mock.Device{
		GetNameFunc:        func() (string, nvml.Return) { return "NVIDIA H100 80GB HBM3", nvml.SUCCESS },
		GetUUIDFunc:        func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
		GetMemoryInfoFunc:  func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: 80 << 30, Used: 1 << 30}, nvml.SUCCESS },
		GetTemperatureFunc: func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 45, nvml.SUCCESS },
		GetPowerUsageFunc:  func() (uint32, nvml.Return) { return 70500, nvml.SUCCESS },
		GetTotalEccErrorsFunc: func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) {
			return 0, nvml.SUCCESS
		},
		GetRetiredPagesPendingStatusFunc: func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS },
		GetRemappedRowsFunc:              func() (int, int, bool, bool, nvml.Return) { return 0, 0, false, false, nvml.SUCCESS },
		GetCurrentClocksEventReasonsFunc: func() (uint64, nvml.Return) { return nvml.ClocksEventReasonGpuIdle, nvml.SUCCESS },
		GetCurrentClocksThrottleReasonsFunc: func() (uint64, nvml.Return) {
			return nvml.ClocksThrottleReasonGpuIdle, nvml.SUCCESS
		},
		GetPersistenceModeFunc: func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_ENABLED, nvml.SUCCESS },
		RegisterEventsFunc:     func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS },
		GetSupportedEventTypesFunc: func() (uint64, nvml.Return) {
			return nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError | nvml.EventTypeSingleBitEccError | nvml.EventTypePState, nvml.SUCCESS
		},
	}
}

// okLib is an NVML with the given devices and a driver that has every
// symbol unless missing names one.
func okLib(devs ...*mock.Device) *mock.Interface {
	return &mock.Interface{
		InitFunc:                       func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:                   func() nvml.Return { return nvml.SUCCESS },
		SystemGetDriverVersionFunc:     func() (string, nvml.Return) { return "570.86.15", nvml.SUCCESS },
		SystemGetCudaDriverVersionFunc: func() (int, nvml.Return) { return 12080, nvml.SUCCESS },
		DeviceGetCountFunc:             func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(string) error { return nil }}
		},
	}
}

func TestGPUHealthy(t *testing.T) {
	lib := okLib(okDevice("GPU-a"), okDevice("GPU-b"))
	g := &GPU{Lib: lib, GPUOptions: GPUOptions{MinCount: 2, MaxTempC: 90, RequirePersistence: true}}
	r := g.Check(context.Background())
	require.Equal(t, StatusPass, r.Status, r.Message)
	assert.Equal(t, "2 GPUs, driver 570.86.15, CUDA 12.8, NVIDIA H100 80GB HBM3", r.Message)
	devs := r.Details["devices"].([]GPUDevice)
	require.Len(t, devs, 2)
	assert.Equal(t, "GPU-b", devs[1].UUID)
	assert.Equal(t, 70.5, devs[0].PowerW)
	assert.Equal(t, 45, devs[0].TemperatureC)
	assert.Zero(t, devs[0].ECCUncorrectedVolatile)
	assert.Len(t, lib.InitCalls(), 1)
	assert.Len(t, lib.ShutdownCalls(), 1, "a Check without Start shuts NVML down again")
}

func TestGPULibraryNotFoundCallsNothingElse(t *testing.T) {
	// Every other method of the mock panics when called: calling one
	// after a failed Init would kill a real process.
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	g := &GPU{Lib: lib}
	r := g.Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.True(t, r.CannotRun)
	assert.Contains(t, r.Message, ErrNVMLNotFound.Error())
	assert.Contains(t, r.Message, "mark the gpu check optional")
	err := g.Start(context.Background())
	assert.ErrorIs(t, err, ErrNVMLNotFound)
	assert.NoError(t, g.Close())
	// Optional: the same check skips, with a typed reason.
	r = Configured{Inner: g, Optional: true}.Check(context.Background())
	assert.Equal(t, StatusSkip, r.Status)
	assert.Equal(t, SkipReasonOptional, r.SkipReason)
}

func TestGPUInitFailure(t *testing.T) {
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }}
	r := (&GPU{Lib: lib}).Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.Equal(t, "initialize NVML: ERROR_DRIVER_NOT_LOADED", r.Message)
}

func TestGPUProblems(t *testing.T) {
	tests := []struct {
		name   string
		opts   GPUOptions
		break_ func(d *mock.Device, lib *mock.Interface)
		status Status
		msg    string
	}{
		{"too few devices", GPUOptions{MinCount: 4}, nil, StatusFail, "2 GPUs visible, want at least 4"},
		{"uncorrectable ECC", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetTotalEccErrorsFunc = func(typ nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
				if typ == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && c == nvml.VOLATILE_ECC {
					return 3, nvml.SUCCESS
				}
				return 0, nvml.SUCCESS
			}
		}, StatusFail, "GPU 0: 3 uncorrectable ECC errors"},
		{"ECC not supported is fine", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetTotalEccErrorsFunc = func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) {
				return 0, nvml.ERROR_NOT_SUPPORTED
			}
		}, StatusPass, "2 GPUs"},
		{"retired pages pending", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_ENABLED, nvml.SUCCESS }
		}, StatusFail, "GPU 0: retired pages pending, reset the GPU"},
		{"row remap failure", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 1, false, true, nvml.SUCCESS }
		}, StatusFail, "GPU 0: row remapping failed"},
		{"row remap pending", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 1, true, false, nvml.SUCCESS }
		}, StatusWarn, "GPU 0: row remap pending"},
		{"thermal throttling", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
				return nvml.ClocksThrottleReasonHwThermalSlowdown | nvml.ClocksThrottleReasonHwSlowdown, nvml.SUCCESS
			}
		}, StatusWarn, "GPU 0 throttled: hardware thermal slowdown, hardware slowdown"},
		{"power brake through the old function on an old driver", GPUOptions{}, func(d *mock.Device, lib *mock.Interface) {
			lib.ExtensionsFunc = func() nvml.ExtendedInterface {
				return &mock.ExtendedInterface{LookupSymbolFunc: func(name string) error {
					if name == "nvmlDeviceGetCurrentClocksEventReasons" {
						return errors.New("symbol not found")
					}
					return nil
				}}
			}
			d.GetCurrentClocksEventReasonsFunc = nil // would panic if called
			d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) {
				return nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, nvml.SUCCESS
			}
		}, StatusWarn, "GPU 0 throttled: power brake"},
		{"power cap and idle are not throttling", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
				return nvml.ClocksEventReasonSwPowerCap | nvml.ClocksEventReasonGpuIdle, nvml.SUCCESS
			}
		}, StatusPass, "2 GPUs"},
		{"too hot", GPUOptions{MaxTempC: 40}, nil, StatusFail, "GPU 0 at 45°C, over 40°C"},
		{"persistence off", GPUOptions{RequirePersistence: true}, func(d *mock.Device, _ *mock.Interface) {
			d.GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS }
		}, StatusWarn, "GPU 0: persistence mode off"},
		{"fallen off the bus", GPUOptions{}, func(d *mock.Device, _ *mock.Interface) {
			d.GetUUIDFunc = func() (string, nvml.Return) { return "", nvml.ERROR_GPU_IS_LOST }
		}, StatusFail, "GPU 0 has fallen off the bus"},
		{"device handle error", GPUOptions{}, func(_ *mock.Device, lib *mock.Interface) {
			lib.DeviceGetHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_UNKNOWN }
		}, StatusFail, "GPU 0: ERROR_UNKNOWN"},
		{"driver version unreadable", GPUOptions{}, func(_ *mock.Device, lib *mock.Interface) {
			lib.SystemGetDriverVersionFunc = func() (string, nvml.Return) { return "", nvml.ERROR_UNKNOWN }
		}, StatusFail, "read driver version: ERROR_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := okDevice("GPU-bad")
			lib := okLib(bad, okDevice("GPU-ok"))
			if tt.break_ != nil {
				tt.break_(bad, lib)
			}
			r := (&GPU{Lib: lib, GPUOptions: tt.opts}).Check(context.Background())
			assert.Equal(t, tt.status, r.Status, r.Message)
			assert.Contains(t, r.Message, tt.msg)
			assert.Len(t, lib.ShutdownCalls(), 1)
		})
	}
}

// eventLib returns an NVML whose event set delivers the given events, one
// per Wait, then times out.
func eventLib(dev *mock.Device, evs ...nvml.EventData) (*mock.Interface, *mock.EventSet) {
	lib := okLib(dev)
	var n atomic.Int32
	set := &mock.EventSet{
		WaitFunc: func(timeout uint32) (nvml.EventData, nvml.Return) {
			i := int(n.Add(1)) - 1
			if i < len(evs) {
				return evs[i], nvml.SUCCESS
			}
			time.Sleep(time.Millisecond)
			return nvml.EventData{}, nvml.ERROR_TIMEOUT
		},
		FreeFunc: func() nvml.Return { return nvml.SUCCESS },
	}
	lib.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) { return set, nvml.SUCCESS }
	return lib, set
}

func xidEvents(dev nvml.Device, xids ...uint64) []nvml.EventData {
	evs := make([]nvml.EventData, len(xids))
	for i, x := range xids {
		evs[i] = nvml.EventData{Device: dev, EventType: nvml.EventTypeXidCriticalError, EventData: x}
	}
	return evs
}

func waitXIDs(t *testing.T, g *GPU, n int) {
	require.Eventually(t, func() bool {
		total := int64(0)
		for _, x := range g.XIDs() {
			total += x.Count
		}
		return total >= int64(n)
	}, 5*time.Second, 5*time.Millisecond)
}

func TestGPUXIDs(t *testing.T) {
	tests := []struct {
		name   string
		policy XIDPolicy
		xids   []uint64
		status Status
		msg    string
		counts int
	}{
		{"the device plugin's application XIDs are ignored", XIDPolicy{}, []uint64{13, 31, 43, 45, 68, 109}, StatusPass, "1 GPUs", 6},
		{"an XID on neither list warns", XIDPolicy{}, []uint64{13, 62, 62}, StatusWarn, "XID 62 on GPU-x (2×)", 2},
		{"a DCGM fatal XID fails", XIDPolicy{}, []uint64{13, 79}, StatusFail, "fatal XID 79 on GPU-x (1×): reset the GPU", 2},
		{"XID 48 (double-bit ECC) fails", XIDPolicy{}, []uint64{48}, StatusFail, "fatal XID 48", 1},
		{"a configured fatal list", XIDPolicy{Fatal: []uint64{13}}, []uint64{13, 79}, StatusFail, "fatal XID 13 on GPU-x", 2},
		{"fatal wins over ignore", XIDPolicy{Ignore: []uint64{79}}, []uint64{79}, StatusFail, "fatal XID 79", 1},
		{"an empty ignore list warns on everything not fatal", XIDPolicy{Ignore: []uint64{}}, []uint64{13}, StatusWarn, "XID 13 on GPU-x", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := okDevice("GPU-x")
			lib, set := eventLib(dev, xidEvents(dev, tt.xids...)...)
			g := &GPU{Lib: lib, GPUOptions: GPUOptions{XID: tt.policy}}
			p := &Prober{Checks: []Check{g}}
			require.NoError(t, p.Start(context.Background()))
			waitXIDs(t, g, len(tt.xids))
			r := p.Run(context.Background(), ProfileLiveness)
			require.NoError(t, p.Close())
			require.Len(t, r.Results, 1, "the GPU check is part of liveness")
			res := r.Results[0]
			assert.Equal(t, tt.status, res.Status, res.Message)
			assert.Contains(t, res.Message, tt.msg)
			assert.Len(t, res.Details["xids"], tt.counts)
			require.Len(t, dev.RegisterEventsCalls(), 1)
			assert.Equal(t, uint64(eventMask), dev.RegisterEventsCalls()[0].V, "XID and both ECC events, nothing unsupported")
			assert.Len(t, set.FreeCalls(), 1, "Close frees the event set")
			assert.Len(t, lib.InitCalls(), 1, "a started check keeps NVML initialised")
			assert.Len(t, lib.ShutdownCalls(), 1, "and shuts it down in Close")
		})
	}
}

func TestGPUECCEvents(t *testing.T) {
	dev := okDevice("GPU-x")
	var uncorrected atomic.Uint64
	dev.GetTotalEccErrorsFunc = func(typ nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
		if typ == nvml.MEMORY_ERROR_TYPE_UNCORRECTED {
			return uncorrected.Load(), nvml.SUCCESS
		}
		return 7, nvml.SUCCESS
	}
	lib, _ := eventLib(dev,
		nvml.EventData{Device: dev, EventType: nvml.EventTypeSingleBitEccError},
		nvml.EventData{Device: dev, EventType: nvml.EventTypeSingleBitEccError},
		nvml.EventData{Device: dev, EventType: nvml.EventTypeDoubleBitEccError})
	g := &GPU{Lib: lib}
	require.NoError(t, g.Start(context.Background()))
	defer g.Close()
	var devs []GPUDevice
	require.Eventually(t, func() bool {
		r := g.Check(context.Background())
		devs = r.Details["devices"].([]GPUDevice)
		return devs[0].ECCEventsDoubleBit == 1
	}, 5*time.Second, 5*time.Millisecond)
	assert.EqualValues(t, 2, devs[0].ECCEventsSingleBit)
	assert.EqualValues(t, 7, devs[0].ECCCorrectedVolatile)
	// The double-bit error shows in the volatile uncorrectable count: fail.
	uncorrected.Store(1)
	r := g.Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, "GPU 0: 1 uncorrectable ECC errors since the driver loaded")
}

func TestGPUFallenOffTheBus(t *testing.T) {
	for _, where := range []string{"handle", "name", "memory", "temperature"} {
		t.Run(where, func(t *testing.T) {
			dev := okDevice("GPU-x")
			lib := okLib(okDevice("GPU-ok"), dev)
			switch where {
			case "handle":
				lib.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
					if i == 1 {
						return nil, nvml.ERROR_GPU_IS_LOST
					}
					return okDevice("GPU-ok"), nvml.SUCCESS
				}
			case "name":
				dev.GetNameFunc = func() (string, nvml.Return) { return "", nvml.ERROR_GPU_IS_LOST }
			case "memory":
				dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST }
			case "temperature":
				dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, nvml.ERROR_GPU_IS_LOST }
			}
			r := (&GPU{Lib: lib}).Check(context.Background())
			assert.Equal(t, StatusFail, r.Status)
			assert.Contains(t, r.Message, "GPU 1 has fallen off the bus (GPU_IS_LOST)")
			assert.Equal(t, 1, strings.Count(r.Message, "fallen off"), r.Message)
			assert.True(t, r.Details["devices"].([]GPUDevice)[1].Lost)
			assert.False(t, r.Details["devices"].([]GPUDevice)[0].Lost)
		})
	}
}

func TestGPUUnknownErrorSaysRecreate(t *testing.T) {
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_UNKNOWN }}
	r := (&GPU{Lib: lib}).Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.False(t, r.CannotRun, "a GPU that was there and is gone is a verdict, not a missing dependency")
	assert.Contains(t, r.Message, "recreate the container")
}

func TestGPUStartWithoutEventSupport(t *testing.T) {
	dev := okDevice("GPU-x")
	dev.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.ERROR_NOT_SUPPORTED }
	lib, set := eventLib(dev)
	g := &GPU{Lib: lib}
	require.NoError(t, g.Start(context.Background()))
	assert.Empty(t, set.WaitCalls(), "nothing to watch")
	assert.Len(t, set.FreeCalls(), 1)
	assert.Equal(t, StatusPass, g.Check(context.Background()).Status)
	require.NoError(t, g.Close())
}

// TestGPUHangReportedAtDeadline: an NVML call that never returns (a GPU off
// the bus) is failed by the Prober at the check's deadline, and the next
// probe fails at once naming the hung call instead of queueing behind it.
func TestGPUHangReportedAtDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	lib := okLib(okDevice("GPU-x"))
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { <-release; return 1, nvml.SUCCESS }
	g := &GPU{Lib: lib}
	p := &Prober{Timeout: 5 * time.Second, Checks: []Check{Configured{Inner: g, Timeout: 200 * time.Millisecond}}}
	start := time.Now()
	r := p.Run(context.Background(), ProfileReadiness)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.False(t, r.Healthy())
	assert.Equal(t, "gpu", r.Results[0].Name)
	assert.Contains(t, r.Results[0].Message, "timed out after")

	start = time.Now()
	r = p.Run(context.Background(), ProfileLiveness)
	assert.Less(t, time.Since(start), 2*time.Second)
	require.Len(t, r.Results, 1)
	assert.Equal(t, StatusFail, r.Results[0].Status)
	assert.Contains(t, r.Results[0].Message, "an earlier NVML call (check) has not returned for")
	assert.Contains(t, r.Results[0].Message, "GPU off the bus")

	// Close does not hang behind it either.
	start = time.Now()
	assert.NoError(t, g.Close(), "never started: nothing to shut down")
	assert.Less(t, time.Since(start), time.Second)
}

func TestGPUCloseGivesUpOnAHungCall(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	lib, _ := eventLib(okDevice("GPU-x"))
	g := &GPU{Lib: lib}
	require.NoError(t, g.Start(context.Background()))
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { <-release; return 1, nvml.SUCCESS }
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	go g.Check(ctx) // hangs in DeviceGetCount
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	err := g.Close()
	assert.ErrorContains(t, err, "shut NVML down: an earlier NVML call (check) has not returned")
	assert.Less(t, time.Since(start), closeWait+time.Second)
}

// TestGPUStartedLeavesLibcudaAlone: NVML reads the CUDA driver version
// from libcuda, which it loads and keeps; a started (resident) check must
// not ask for it, a one-shot check does.
func TestGPUStartedLeavesLibcudaAlone(t *testing.T) {
	lib, _ := eventLib(okDevice("GPU-x"))
	g := &GPU{Lib: lib}
	require.NoError(t, g.Start(context.Background()))
	r := g.Check(context.Background())
	require.NoError(t, g.Close())
	assert.Equal(t, StatusPass, r.Status, r.Message)
	assert.Empty(t, lib.SystemGetCudaDriverVersionCalls(), "a resident check must not load libcuda")
	assert.NotContains(t, r.Message, "CUDA")

	lib = okLib(okDevice("GPU-x"))
	r = (&GPU{Lib: lib}).Check(context.Background())
	assert.Len(t, lib.SystemGetCudaDriverVersionCalls(), 1)
	assert.Contains(t, r.Message, "CUDA 12.8")
}
