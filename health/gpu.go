package health

import "fmt"

// GPUOptions configure the GPU check (see GPU, built with cgo).
type GPUOptions struct {
	// MinCount is the least number of devices NVML must see (0 = 1).
	MinCount int
	// MaxTempC fails a device hotter than this (0 = no limit).
	MaxTempC int
	// RequirePersistence warns about devices with persistence mode off.
	RequirePersistence bool
}

// NVMLNotFound is the message when libnvidia-ml cannot be loaded.
const NVMLNotFound = "NVML library not found: is the container started with --gpus?"

// applicationXIDs are XIDs caused by the application (a bad kernel, an
// illegal address, a watchdog-killed context), not by the GPU: warnings,
// as the Kubernetes device plugin treats them.
var applicationXIDs = map[uint64]bool{13: true, 31: true, 43: true, 45: true, 68: true, 109: true}

// XIDEvent is one XID error seen by a started GPU check.
type XIDEvent struct {
	Device string `json:"device"` // UUID, or index when the UUID is unknown
	XID    uint64 `json:"xid"`
}

// Critical reports whether the XID points at the GPU or driver rather than
// at the application.
func (e XIDEvent) Critical() bool { return !applicationXIDs[e.XID] }

func (e XIDEvent) String() string { return fmt.Sprintf("XID %d on %s", e.XID, e.Device) }
