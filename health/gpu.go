package health

import (
	"errors"
	"fmt"
	"slices"
)

// GPUOptions configure a GPU check (package health/nvmlgpu implements it
// with NVML; health itself needs no cgo).
type GPUOptions struct {
	// MinCount is the least number of devices that must be visible (0 = 1).
	MinCount int
	// MaxTempC fails a device hotter than this (0 = no limit).
	MaxTempC int
	// RequirePersistence warns about devices with persistence mode off.
	RequirePersistence bool
	// XID decides what an XID event seen by a started check means.
	XID XIDPolicy
}

// ErrNVMLNotFound is the error (for errors.Is) of a GPU check whose
// libnvidia-ml cannot be loaded: no driver, or a container started without
// --gpus or the NVIDIA runtime.
var ErrNVMLNotFound = errors.New("NVML library not found: is the container started with --gpus (or runtime: nvidia)?")

// ErrNoNVMLSupport is the error (for errors.Is) of a GPU check in a binary
// built without NVML (CGO_ENABLED=0 or -tags nonvml).
var ErrNoNVMLSupport = errors.New("this build has no NVML support (built with CGO_ENABLED=0 or -tags nonvml)")

// DefaultXIDIgnore are the XIDs the Kubernetes device plugin treats as
// application errors, not GPU faults: 13 (graphics engine exception), 31
// (memory page fault), 43 (reset channel verification error), 45
// (preemptive cleanup), 68 (video processor exception) and 109 (context
// switch timeout).
var DefaultXIDIgnore = []uint64{13, 31, 43, 45, 68, 109}

// DefaultXIDFatal are the XIDs DCGM always treats as fatal: 48 (double-bit
// ECC), 74 (NVLink), 79 (fallen off the bus), 95 (uncontained ECC), 119
// and 120 (GSP errors) and 140 (unrecovered ECC).
var DefaultXIDFatal = []uint64{48, 74, 79, 95, 119, 120, 140}

// XIDPolicy classifies XID events. A nil Ignore or Fatal means the default
// list; an empty non-nil list means none.
type XIDPolicy struct {
	// Ignore lists XIDs that are counted but neither warn nor fail.
	Ignore []uint64
	// Fatal lists XIDs that fail the check until the container restarts.
	Fatal []uint64
}

// XIDClass is what an XID means under a policy.
type XIDClass int

// The classes of an XID: ignored, a warning (any XID on neither list) or
// fatal.
const (
	XIDClassIgnored XIDClass = iota
	XIDClassWarn
	XIDClassFatal
)

func (c XIDClass) String() string {
	switch c {
	case XIDClassIgnored:
		return "ignored"
	case XIDClassWarn:
		return "warn"
	case XIDClassFatal:
		return "fatal"
	}
	return fmt.Sprintf("XIDClass(%d)", int(c))
}

// MarshalText prints the class as "ignored", "warn" or "fatal".
func (c XIDClass) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Classify says what xid means: fatal when on the Fatal list (which wins
// over Ignore), ignored when on the Ignore list, else a warning.
func (p XIDPolicy) Classify(xid uint64) XIDClass {
	fatal, ignore := p.Fatal, p.Ignore
	if fatal == nil {
		fatal = DefaultXIDFatal
	}
	if ignore == nil {
		ignore = DefaultXIDIgnore
	}
	switch {
	case slices.Contains(fatal, xid):
		return XIDClassFatal
	case slices.Contains(ignore, xid):
		return XIDClassIgnored
	}
	return XIDClassWarn
}

// XIDEvent is one XID error seen by a started GPU check.
type XIDEvent struct {
	Device string `json:"device"` // UUID, or index when the UUID is unknown
	XID    uint64 `json:"xid"`
}

func (e XIDEvent) String() string { return fmt.Sprintf("XID %d on %s", e.XID, e.Device) }

// XIDCount is how often one XID was seen on one device.
type XIDCount struct {
	XIDEvent
	Count int64    `json:"count"`
	Class XIDClass `json:"class"`
}

// GPUDevice is what a GPU check read about one device; the check's
// Result.Details["devices"] holds a []GPUDevice. Counters NVML could not
// read are -1.
type GPUDevice struct {
	Index        int     `json:"index"`
	UUID         string  `json:"uuid,omitempty"`
	Name         string  `json:"name,omitempty"`
	MemoryTotal  uint64  `json:"memory_total,omitempty"`
	MemoryUsed   uint64  `json:"memory_used,omitempty"`
	TemperatureC int     `json:"temperature_c"`
	PowerW       float64 `json:"power_w,omitempty"`
	// ECCUncorrectedVolatile counts uncorrectable ECC errors since the
	// driver loaded.
	ECCUncorrectedVolatile int64 `json:"ecc_uncorrected_volatile"`
	// ECCCorrectedVolatile counts corrected ECC errors since the driver
	// loaded.
	ECCCorrectedVolatile int64 `json:"ecc_corrected_volatile"`
	// ECCEventsSingleBit and ECCEventsDoubleBit count the ECC error events
	// a started check saw.
	ECCEventsSingleBit  int64  `json:"ecc_events_single_bit,omitempty"`
	ECCEventsDoubleBit  int64  `json:"ecc_events_double_bit,omitempty"`
	RetiredPagesPending bool   `json:"retired_pages_pending,omitempty"`
	RowRemapPending     bool   `json:"row_remap_pending,omitempty"`
	RowRemapFailed      bool   `json:"row_remap_failed,omitempty"`
	Lost                bool   `json:"lost,omitempty"` // fallen off the bus
	ClockEventReasons   uint64 `json:"clock_event_reasons,omitempty"`
	PersistenceMode     bool   `json:"persistence_mode"`
}
