//go:build cgo && !nonvml

package nvmlgpu

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/units"
)

// New returns the GPU check backed by the system's libnvidia-ml.
func New(opts health.GPUOptions) *GPU { return &GPU{GPUOptions: opts, Lib: nvml.New()} }

// GPU checks the NVIDIA GPUs through NVML: the driver and CUDA driver
// versions, at least MinCount devices, and for each device its name, UUID,
// memory, temperature and power. It fails on a device that has fallen off
// the bus, volatile uncorrectable ECC errors, pending page retirement,
// row-remap failures, a temperature over MaxTempC and XIDs the policy calls
// fatal; it warns on hardware or thermal clock throttling (power brake
// included), pending row remaps, XIDs on neither of the policy's lists and,
// with RequirePersistence, persistence mode off. Each Check makes a few
// dozen NVML calls (a millisecond or so), cheap enough for liveness: the
// check is process-local (no network, no subprocess) and so part of the
// liveness profile.
//
// When libnvidia-ml cannot be loaded (no driver, a container started without
// --gpus) the check cannot run: it fails with health.ErrNVMLNotFound (a
// Configured Optional check skips instead) and calls nothing else in NVML,
// since any call after a failed Init kills the process. Functions newer than
// the installed driver are looked up with Extensions().LookupSymbol first.
//
// XIDs and ECC errors are also events, and NVML reports only those that
// happen after an event set is registered. Start initialises NVML once,
// registers every device for XID and ECC events and watches in one goroutine
// until Close; without Start each Check initialises and shuts NVML down
// itself and judges from state alone (which still shows what an XID leaves
// behind: uncorrectable ECC counts, pending retirements, a lost GPU). A
// fatal XID keeps failing the check until the container restarts: the GPU
// needs a reset.
//
// NVML calls can hang (a GPU off the bus). One call at a time is made; a
// Check that finds an earlier call still hanging fails at once, saying for
// how long, rather than queueing behind it, and the Prober's deadline does
// not depend on any call returning.
type GPU struct {
	health.GPUOptions
	// Lib is the NVML library (nvml.New(), or go-nvml's mock in tests).
	Lib nvml.Interface
	// Logger receives the XID and ECC events as they are seen (nil = discard).
	Logger *slog.Logger
	// Now is the clock (nil = time.Now).
	Now func() time.Time

	semOnce sync.Once
	sem     chan struct{} // one NVML call sequence at a time
	busyMu  sync.Mutex
	busy    time.Time // when the sequence holding sem began
	busyOp  string

	mu      sync.Mutex // guards the fields below
	started bool
	set     nvml.EventSet
	stop    chan struct{}
	done    chan struct{}
	xids    map[health.XIDEvent]int64
	ecc     map[string]*eccEvents
}

type eccEvents struct{ single, double int64 }

// Name is "gpu".
func (g *GPU) Name() string { return "gpu" }

// Local marks the check as process-local: it belongs to liveness.
func (g *GPU) Local() bool { return true }

func (g *GPU) log() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (g *GPU) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// errHung is the error of a call that found an earlier NVML call still
// running.
type errHung struct {
	op   string
	for_ time.Duration
}

func (e errHung) Error() string {
	return fmt.Sprintf("an earlier NVML call (%s) has not returned for %s: a hung driver or a GPU off the bus; reset the GPU or recreate the container", e.op, units.Round(e.for_))
}

// acquire takes the right to call NVML, or gives up when ctx ends first.
func (g *GPU) acquire(ctx context.Context, op string) (release func(), err error) {
	g.semOnce.Do(func() { g.sem = make(chan struct{}, 1) })
	select {
	case g.sem <- struct{}{}:
	default:
		select {
		case g.sem <- struct{}{}:
		case <-ctx.Done():
			g.busyMu.Lock()
			e := errHung{op: g.busyOp, for_: g.now().Sub(g.busy)}
			g.busyMu.Unlock()
			return nil, e
		}
	}
	g.busyMu.Lock()
	g.busy, g.busyOp = g.now(), op
	g.busyMu.Unlock()
	return func() { <-g.sem }, nil
}

// initError turns a failed Init into a Result.
func initError(ret nvml.Return) health.Result {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return health.CannotRun(health.ErrNVMLNotFound, "start the container with --gpus all (or the NVIDIA runtime), or mark the gpu check optional")
	case nvml.ERROR_UNKNOWN:
		return health.Result{Status: health.StatusFail, Message: "initialize NVML: Unknown Error: the container lost access to the GPU (e.g. after systemctl daemon-reload on the host); recreate the container"}
	}
	return health.Result{Status: health.StatusFail, Message: fmt.Sprintf("initialize NVML: %s", nvml.ErrorString(ret))}
}

// eventMask is what Start registers for.
const eventMask = nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError | nvml.EventTypeSingleBitEccError

// Start initialises NVML and watches every device for XID and ECC events
// until Close. It starts one goroutine. Devices that cannot register are
// logged and watched by state only.
func (g *GPU) Start(ctx context.Context) error {
	release, err := g.acquire(ctx, "start")
	if err != nil {
		return err
	}
	defer release()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return nil
	}
	if ret := g.Lib.Init(); ret != nvml.SUCCESS {
		r := initError(ret)
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			return fmt.Errorf("start GPU check: %w", health.ErrNVMLNotFound)
		}
		return fmt.Errorf("start GPU check: %s", r.Message)
	}
	g.started = true
	set, ret := g.Lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		g.log().Warn("cannot watch GPU events", "error", nvml.ErrorString(ret))
		return nil
	}
	n, ret := g.Lib.DeviceGetCount()
	registered := 0
	for i := 0; ret == nvml.SUCCESS && i < n; i++ {
		dev, r := g.Lib.DeviceGetHandleByIndex(i)
		if r != nvml.SUCCESS {
			continue
		}
		mask := uint64(eventMask)
		if sup, r := dev.GetSupportedEventTypes(); r == nvml.SUCCESS {
			mask &= sup
		}
		if mask == 0 {
			g.log().Warn("cannot watch GPU events", "device", i, "error", "no XID or ECC events supported")
			continue
		}
		if r := dev.RegisterEvents(mask, set); r == nvml.SUCCESS {
			registered++
		} else {
			g.log().Warn("cannot watch GPU events", "device", i, "error", nvml.ErrorString(r))
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

// watch records events until stop is closed.
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
			g.log().Warn("stop watching GPU events", "error", nvml.ErrorString(ret))
			return
		}
		dev := "unknown"
		if ev.Device != nil {
			if uuid, r := ev.Device.GetUUID(); r == nvml.SUCCESS {
				dev = uuid
			}
		}
		g.record(dev, ev.EventType, ev.EventData)
	}
}

// record counts one event.
func (g *GPU) record(dev string, typ, data uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch typ {
	case nvml.EventTypeXidCriticalError:
		x := health.XIDEvent{Device: dev, XID: data}
		if g.xids == nil {
			g.xids = map[health.XIDEvent]int64{}
		}
		g.xids[x]++
		g.log().Warn("GPU XID", "device", dev, "xid", data, "class", g.XID.Classify(data).String())
	case nvml.EventTypeDoubleBitEccError, nvml.EventTypeSingleBitEccError:
		if g.ecc == nil {
			g.ecc = map[string]*eccEvents{}
		}
		e := g.ecc[dev]
		if e == nil {
			e = &eccEvents{}
			g.ecc[dev] = e
		}
		kind := "single-bit"
		if typ == nvml.EventTypeDoubleBitEccError {
			e.double++
			kind = "double-bit"
		} else {
			e.single++
		}
		g.log().Warn("GPU ECC error", "device", dev, "kind", kind)
	}
}

// Close stops watching, waits for the watcher and shuts NVML down. When an
// NVML call is still hanging it gives up on the shutdown after a few
// seconds and says so.
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
	if !started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	release, err := g.acquire(ctx, "shutdown")
	if err != nil {
		return fmt.Errorf("shut NVML down: %w", err)
	}
	defer release()
	if ret := g.Lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shut NVML down: %s", nvml.ErrorString(ret))
	}
	return nil
}

// closeWait bounds how long Close waits for a hanging NVML call.
const closeWait = 3 * time.Second

// XIDs returns how often each XID was seen since Start, by device then XID.
func (g *GPU) XIDs() []health.XIDCount {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.xidCounts()
}

func (g *GPU) xidCounts() []health.XIDCount {
	out := make([]health.XIDCount, 0, len(g.xids))
	for x, n := range g.xids {
		out = append(out, health.XIDCount{XIDEvent: x, Count: n, Class: g.XID.Classify(x.XID)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].XID < out[j].XID
	})
	return out
}

// Check reads the state of every device once.
func (g *GPU) Check(ctx context.Context) health.Result {
	release, err := g.acquire(ctx, "check")
	if err != nil {
		return health.Result{Status: health.StatusFail, Message: err.Error()}
	}
	defer release()
	g.mu.Lock()
	started := g.started
	g.mu.Unlock()
	if !started {
		if ret := g.Lib.Init(); ret != nvml.SUCCESS {
			return initError(ret)
		}
		defer g.Lib.Shutdown()
	}
	var f findings
	details := map[string]any{}
	driver, ret := g.Lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return failf("read driver version: %s", nvml.ErrorString(ret))
	}
	details["driver"] = driver
	cudaVersion := ""
	// NVML answers this from libcuda (cuDriverGetVersion), which it loads
	// for the purpose and keeps: megabytes a resident check would hold for
	// a line of text. A one-shot check, about to exit, reads it.
	if !started {
		if v, ret := g.Lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
			cudaVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
			details["cuda_driver"] = cudaVersion
		}
	}
	n, ret := g.Lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return withDetails(failf("count devices: %s", nvml.ErrorString(ret)), details)
	}
	if want := max(g.MinCount, 1); n < want {
		f.fail("%d GPUs visible, want at least %d", n, want)
	}
	devs := make([]health.GPUDevice, 0, n)
	for i := range n {
		if ctx.Err() != nil {
			return withDetails(failf("timed out reading GPU %d", i), details)
		}
		devs = append(devs, g.device(i, &f))
	}
	details["devices"] = devs
	g.events(&f, details, devs)
	summary := fmt.Sprintf("%d GPUs, driver %s", n, driver)
	if cudaVersion != "" {
		summary += ", CUDA " + cudaVersion
	}
	if n > 0 && devs[0].Name != "" {
		summary += ", " + devs[0].Name
	}
	return withDetails(f.result(summary), details)
}

// events adds what the watcher saw to the findings and details.
func (g *GPU) events(f *findings, details map[string]any, devs []health.GPUDevice) {
	g.mu.Lock()
	defer g.mu.Unlock()
	xids := g.xidCounts()
	for _, x := range xids {
		switch x.Class {
		case health.XIDClassFatal:
			f.fail("fatal %s (%d×): reset the GPU", x.XIDEvent, x.Count)
		case health.XIDClassWarn:
			f.warn("%s (%d×)", x.XIDEvent, x.Count)
		}
	}
	if len(xids) > 0 {
		details["xids"] = xids
	}
	for i := range devs {
		if e := g.ecc[devs[i].UUID]; e != nil {
			devs[i].ECCEventsSingleBit, devs[i].ECCEventsDoubleBit = e.single, e.double
		}
	}
}

// device reads one device's state.
func (g *GPU) device(i int, f *findings) health.GPUDevice {
	d := health.GPUDevice{Index: i, TemperatureC: -1, ECCUncorrectedVolatile: -1, ECCCorrectedVolatile: -1}
	id := fmt.Sprint(i)
	dev, ret := g.Lib.DeviceGetHandleByIndex(i)
	if ret == nvml.ERROR_GPU_IS_LOST {
		d.Lost = true
		f.fail("GPU %s has fallen off the bus (GPU_IS_LOST): reset the GPU or reboot the host", id)
		return d
	}
	if ret != nvml.SUCCESS {
		f.fail("GPU %s: %s", id, nvml.ErrorString(ret))
		return d
	}
	lost := func(ret nvml.Return) bool {
		if ret == nvml.ERROR_GPU_IS_LOST && !d.Lost {
			d.Lost = true
			f.fail("GPU %s has fallen off the bus (GPU_IS_LOST): reset the GPU or reboot the host", id)
		}
		return d.Lost
	}
	if name, ret := dev.GetName(); ret == nvml.SUCCESS {
		d.Name = name
	} else if lost(ret) {
		return d
	}
	if uuid, ret := dev.GetUUID(); ret == nvml.SUCCESS {
		d.UUID = uuid
	} else if lost(ret) {
		return d
	}
	if mem, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.MemoryTotal, d.MemoryUsed = mem.Total, mem.Used
	} else if lost(ret) {
		return d
	}
	if t, ret := dev.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		d.TemperatureC = int(t)
		if g.MaxTempC > 0 && int(t) > g.MaxTempC {
			f.fail("GPU %s at %d°C, over %d°C", id, t, g.MaxTempC)
		}
	} else if lost(ret) {
		return d
	}
	if p, ret := dev.GetPowerUsage(); ret == nvml.SUCCESS {
		d.PowerW = float64(p) / 1000
	}
	if n, ret := dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS {
		d.ECCUncorrectedVolatile = int64(n)
		if n > 0 {
			f.fail("GPU %s: %d uncorrectable ECC errors since the driver loaded", id, n)
		}
	} else if lost(ret) {
		return d
	}
	if n, ret := dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS {
		d.ECCCorrectedVolatile = int64(n)
	}
	if st, ret := dev.GetRetiredPagesPendingStatus(); ret == nvml.SUCCESS && st == nvml.FEATURE_ENABLED {
		d.RetiredPagesPending = true
		f.fail("GPU %s: retired pages pending, reset the GPU", id)
	}
	if _, _, pending, failed, ret := dev.GetRemappedRows(); ret == nvml.SUCCESS {
		d.RowRemapPending, d.RowRemapFailed = pending, failed
		switch {
		case failed:
			f.fail("GPU %s: row remapping failed", id)
		case pending:
			f.warn("GPU %s: row remap pending, reset the GPU", id)
		}
	}
	if reasons, ok := g.clockReasons(dev); ok {
		d.ClockEventReasons = reasons
		if r := throttleNames(reasons); r != "" {
			f.warn("GPU %s throttled: %s", id, r)
		}
	}
	if pm, ret := dev.GetPersistenceMode(); ret == nvml.SUCCESS {
		d.PersistenceMode = pm == nvml.FEATURE_ENABLED
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

// findings collects problems; the worst decides the status.
type findings struct{ fails, warns []string }

func (f *findings) fail(format string, args ...any) {
	f.fails = append(f.fails, fmt.Sprintf(format, args...))
}

func (f *findings) warn(format string, args ...any) {
	f.warns = append(f.warns, fmt.Sprintf(format, args...))
}

func (f *findings) result(summary string) health.Result {
	switch {
	case len(f.fails) > 0:
		return failf("%s (%s)", strings.Join(append(f.fails, f.warns...), "; "), summary)
	case len(f.warns) > 0:
		return health.Result{Status: health.StatusWarn, Message: strings.Join(f.warns, "; ") + " (" + summary + ")"}
	}
	return health.Result{Status: health.StatusPass, Message: summary}
}

func failf(format string, args ...any) health.Result {
	return health.Result{Status: health.StatusFail, Message: fmt.Sprintf(format, args...)}
}

func withDetails(r health.Result, d map[string]any) health.Result {
	r.Details = d
	return r
}
