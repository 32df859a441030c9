package hostinfo

import "github.com/tendkit/tend/units"

// Limits are the limits in force for the calling process, as ReadLimits
// finds them. Zero means unlimited (or, for GPUs, none).
type Limits struct {
	// Cgroup is the cgroup layout found ("" when none).
	Cgroup            CgroupMode `json:"cgroup"`
	Memory            units.Size `json:"memory,omitempty"`             // hard limit
	MemoryHigh        units.Size `json:"memory_high,omitempty"`        // v2 memory.high throttle
	MemoryReservation units.Size `json:"memory_reservation,omitempty"` // v1 soft limit, v2 memory.low
	MemorySwap        units.Size `json:"memory_swap,omitempty"`        // memory plus swap
	CPUs              NanoCPUs   `json:"cpus,omitempty"`               // CFS quota / period
	Cpuset            string     `json:"cpuset,omitempty"`
	PidsMax           int64      `json:"pids_max,omitempty"`
	ShmSize           units.Size `json:"shm_size,omitempty"`
	Ulimits           []Ulimit   `json:"ulimits,omitempty"` // from /proc/self/limits
	// GPUs are the GPUs CUDA would see: the /dev/nvidiaN device nodes,
	// narrowed by NVIDIA_VISIBLE_DEVICES ("void" and "none": no GPU) and
	// CUDA_VISIBLE_DEVICES ("" or "-1": no GPU; indices pick device nodes).
	GPUs []string `json:"gpus,omitempty"`
}

// CgroupMode is the cgroup layout ReadLimits found.
type CgroupMode string

// The cgroup layouts.
const (
	CgroupModeV1     CgroupMode = "v1"
	CgroupModeV2     CgroupMode = "v2"
	CgroupModeHybrid CgroupMode = "hybrid" // v1 controllers plus a v2 mount
)

// ReadLimits reads the limits in force for the calling process under root
// ("/" normally; a fixture tree in tests). It finds the process's cgroups
// from proc/self/cgroup and proc/self/mountinfo and, because a parent
// cgroup's limit binds its children, walks from the process's cgroup up to
// the mount point taking the smallest limit of each kind (automaxprocs and
// the Go runtime read the leaf only). For cgroup v1 it also reads
// memory.stat's hierarchical_memory_limit and treats the "unlimited"
// sentinel as no limit. /dev/shm's size comes from the tmpfs mount options,
// the ulimits from proc/self/limits, and the environment for
// NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES from proc/self/environ.
// Files that do not exist are skipped; files that do not parse are errors,
// returned together with everything else that was read.
// It is Linux-only: elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func ReadLimits(root string) (*Limits, error) {
	return readLimits(root)
}
