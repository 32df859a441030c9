//go:build cgo && !nonvml

package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/tendkit/tend/units"
)

// NewGPU returns the GPU check backed by the system's libnvidia-ml.
func NewGPU(opts GPUOptions) Check { return &GPU{GPUOptions: opts, Lib: nvml.New()} }

// GPU checks the NVIDIA GPUs through NVML: the driver and CUDA driver
// versions, at least MinCount devices, and for each device its name, UUID,
// memory, temperature and power; it fails on volatile uncorrectable ECC
// errors, pending page retirement, row-remap failures, a temperature over
// MaxTempC and critical XIDs, and warns on hardware or thermal clock
// throttling (power brake included), pending row remaps, application XIDs
// (13, 31, 43, 45, 68, 109) and, with RequirePersistence, persistence mode
// off.
//
// When libnvidia-ml cannot be loaded (no driver, container started without
// --gpus) the check fails with NVMLNotFound and calls nothing else in NVML:
// any call after a failed Init kills the process. Functions newer than the
// installed driver are looked up with Extensions().LookupSymbol first.
//
// XIDs are events: NVML reports only those that happen after an event set
// is registered. Start initialises NVML, registers for XID events on every
// device and watches in a goroutine until Close; without Start each Check
// initialises and shuts NVML down itself and judges from state alone.
type GPU struct {
	GPUOptions
	// Lib is the NVML library (nvml.New(), or a mock in tests).
	Lib nvml.Interface
	// Logger receives the XIDs as they are seen (nil = discard).
	Logger *slog.Logger

	mu      sync.Mutex // serialises NVML use and guards the fields below
	started bool
	set     nvml.EventSet
	stop    chan struct{}
	done    chan struct{}
	xids    []XIDEvent
}

// Name is "gpu".
func (g *GPU) Name() string { return "gpu" }

func (g *GPU) log() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// errNVMLNotFound is Start's error when the library is missing.
var errNVMLNotFound = errors.New(NVMLNotFound)

func initError(ret nvml.Return) error {
	if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
		return errNVMLNotFound
	}
	return fmt.Errorf("initialize NVML: %s", nvml.ErrorString(ret))
}

// Start initialises NVML and watches every device for XID events until
// Close. It starts one goroutine.
func (g *GPU) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return nil
	}
	if ret := g.Lib.Init(); ret != nvml.SUCCESS {
		return initError(ret)
	}
	g.started = true
	set, ret := g.Lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		g.log().Warn("cannot watch XIDs", "error", nvml.ErrorString(ret))
		return nil
	}
	n, ret := g.Lib.DeviceGetCount()
	registered := 0
	for i := 0; ret == nvml.SUCCESS && i < n; i++ {
		dev, r := g.Lib.DeviceGetHandleByIndex(i)
		if r != nvml.SUCCESS {
			continue
		}
		if r := dev.RegisterEvents(nvml.EventTypeXidCriticalError, set); r == nvml.SUCCESS {
			registered++
		} else {
			g.log().Warn("cannot watch XIDs", "device", i, "error", nvml.ErrorString(r))
		}
	}
	if registered == 0 {
		set.Free()
		return nil
	}
	g.set, g.stop, g.done = set, make(chan struct{}), make(chan struct{})
	go g.watch(set, g.stop, g.done)
	return nil
}

// watch records XID events until stop is closed.
func (g *GPU) watch(set nvml.EventSet, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		default:
		}
		ev, ret := set.Wait(500)
		switch ret {
		case nvml.SUCCESS:
		case nvml.ERROR_TIMEOUT:
			continue
		default:
			g.log().Warn("stop watching XIDs", "error", nvml.ErrorString(ret))
			return
		}
		if ev.EventType != nvml.EventTypeXidCriticalError {
			continue
		}
		x := XIDEvent{XID: ev.EventData, Device: "unknown"}
		if ev.Device != nil {
			if uuid, r := ev.Device.GetUUID(); r == nvml.SUCCESS {
				x.Device = uuid
			}
		}
		g.log().Warn("GPU XID", "device", x.Device, "xid", x.XID, "critical", x.Critical())
		g.mu.Lock()
		g.xids = append(g.xids, x)
		g.mu.Unlock()
	}
}

// Close stops watching, waits for the watcher and shuts NVML down.
func (g *GPU) Close() error {
	g.mu.Lock()
	stop, done, set, started := g.stop, g.done, g.set, g.started
	g.stop, g.done, g.set, g.started = nil, nil, nil, false
	g.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
		set.Free()
	}
	if started {
		if ret := g.Lib.Shutdown(); ret != nvml.SUCCESS {
			return fmt.Errorf("shut NVML down: %s", nvml.ErrorString(ret))
		}
	}
	return nil
}

// XIDs returns the XID events seen since Start.
func (g *GPU) XIDs() []XIDEvent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]XIDEvent(nil), g.xids...)
}

// Check reads the state of every device once.
func (g *GPU) Check(ctx context.Context) Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.started {
		if ret := g.Lib.Init(); ret != nvml.SUCCESS {
			return failf("%v", initError(ret))
		}
		defer g.Lib.Shutdown()
	}
	f := gpuFindings{}
	details := map[string]any{}
	driver, ret := g.Lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return failf("read driver version: %s", nvml.ErrorString(ret))
	}
	details["driver"] = driver
	cudaVersion := ""
	if v, ret := g.Lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		cudaVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
		details["cuda_driver"] = cudaVersion
	}
	n, ret := g.Lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return failf("count devices: %s", nvml.ErrorString(ret)).with(details)
	}
	want := max(g.MinCount, 1)
	if n < want {
		f.fail("%d GPUs visible, want at least %d", n, want)
	}
	var devs []map[string]any
	for i := range n {
		if ctx.Err() != nil {
			return failf("timed out reading device %d", i).with(details)
		}
		devs = append(devs, g.device(i, &f))
	}
	details["devices"] = devs
	for _, x := range g.xids {
		if x.Critical() {
			f.fail("critical %s", x)
		} else {
			f.warn("application %s", x)
		}
	}
	if len(g.xids) > 0 {
		details["xids"] = append([]XIDEvent(nil), g.xids...)
	}
	summary := fmt.Sprintf("%d GPUs, driver %s", n, driver)
	if cudaVersion != "" {
		summary += ", CUDA " + cudaVersion
	}
	if n > 0 {
		if name, ok := devs[0]["name"].(string); ok {
			summary += ", " + name
		}
	}
	return f.result(summary).with(details)
}

// device reads one device's state into its details and findings.
func (g *GPU) device(i int, f *gpuFindings) map[string]any {
	d := map[string]any{"index": i}
	dev, ret := g.Lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		f.fail("GPU %d: %s", i, nvml.ErrorString(ret))
		return d
	}
	id := fmt.Sprint(i)
	if name, ret := dev.GetName(); ret == nvml.SUCCESS {
		d["name"] = name
	}
	if uuid, ret := dev.GetUUID(); ret == nvml.SUCCESS {
		d["uuid"] = uuid
	} else if ret == nvml.ERROR_GPU_IS_LOST {
		f.fail("GPU %s has fallen off the bus (GPU_IS_LOST)", id)
		return d
	}
	if mem, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		d["memory_total"], d["memory_used"] = mem.Total, mem.Used
		d["memory"] = fmt.Sprintf("%s/%s", units.Size(mem.Used).Human(), units.Size(mem.Total).Human())
	}
	if t, ret := dev.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		d["temperature_c"] = t
		if g.MaxTempC > 0 && int(t) > g.MaxTempC {
			f.fail("GPU %s at %d°C, over %d°C", id, t, g.MaxTempC)
		}
	}
	if p, ret := dev.GetPowerUsage(); ret == nvml.SUCCESS {
		d["power_w"] = float64(p) / 1000
	}
	if n, ret := dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS {
		d["ecc_uncorrected_volatile"] = n
		if n > 0 {
			f.fail("GPU %s: %d uncorrectable ECC errors since the driver loaded", id, n)
		}
	}
	if st, ret := dev.GetRetiredPagesPendingStatus(); ret == nvml.SUCCESS && st == nvml.FEATURE_ENABLED {
		d["retired_pages_pending"] = true
		f.fail("GPU %s: retired pages pending, reset the GPU", id)
	}
	if _, unc, pending, failed, ret := dev.GetRemappedRows(); ret == nvml.SUCCESS {
		d["remapped_rows_uncorrectable"] = unc
		switch {
		case failed:
			f.fail("GPU %s: row remapping failed", id)
		case pending:
			f.warn("GPU %s: row remap pending, reset the GPU", id)
		}
	}
	if reasons, ok := g.clockReasons(dev); ok {
		d["clock_event_reasons"] = reasons
		if r := throttleNames(reasons); r != "" {
			f.warn("GPU %s throttled: %s", id, r)
		}
	}
	if pm, ret := dev.GetPersistenceMode(); ret == nvml.SUCCESS {
		d["persistence_mode"] = pm == nvml.FEATURE_ENABLED
		if g.RequirePersistence && pm != nvml.FEATURE_ENABLED {
			f.warn("GPU %s: persistence mode off", id)
		}
	}
	return d
}

// clockReasons reads the clock event (formerly throttle) reasons, with the
// newer function only when the driver has it.
func (g *GPU) clockReasons(dev nvml.Device) (uint64, bool) {
	if ext := g.Lib.Extensions(); ext != nil && ext.LookupSymbol("nvmlDeviceGetCurrentClocksEventReasons") == nil {
		r, ret := dev.GetCurrentClocksEventReasons()
		return r, ret == nvml.SUCCESS
	}
	r, ret := dev.GetCurrentClocksThrottleReasons()
	return r, ret == nvml.SUCCESS
}

// throttleNames names the reasons that mean the hardware is protecting
// itself (not idling or honouring a power cap).
func throttleNames(r uint64) string {
	var names []string
	for _, t := range []struct {
		bit  uint64
		name string
	}{
		{nvml.ClocksThrottleReasonHwThermalSlowdown, "hardware thermal slowdown"},
		{nvml.ClocksEventReasonSwThermalSlowdown, "software thermal slowdown"},
		{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, "power brake"},
		{nvml.ClocksThrottleReasonHwSlowdown, "hardware slowdown"},
	} {
		if r&t.bit != 0 {
			names = append(names, t.name)
		}
	}
	return strings.Join(names, ", ")
}

// gpuFindings collects problems; the worst decides the status.
type gpuFindings struct{ fails, warns []string }

func (f *gpuFindings) fail(format string, args ...any) {
	f.fails = append(f.fails, fmt.Sprintf(format, args...))
}

func (f *gpuFindings) warn(format string, args ...any) {
	f.warns = append(f.warns, fmt.Sprintf(format, args...))
}

func (f *gpuFindings) result(summary string) Result {
	switch {
	case len(f.fails) > 0:
		return failf("%s", strings.Join(append(f.fails, f.warns...), "; ")+" ("+summary+")")
	case len(f.warns) > 0:
		return warnf("%s", strings.Join(f.warns, "; ")+" ("+summary+")")
	}
	return passf("%s", summary)
}
