package quota

import (
	"context"

	"github.com/tendkit/tend/quota/hostinfo"
)

// The host readers live in package hostinfo (so that a program reading
// only limits does not import the spec code); these names keep quota's API.

// NanoCPUs is a number of CPUs in billionths, as docker counts them.
type NanoCPUs = hostinfo.NanoCPUs

// Ulimit is a resource limit set with setrlimit; -1 means unlimited.
type Ulimit = hostinfo.Ulimit

// Limits are the limits in force for the calling process, as ReadLimits
// finds them (hostinfo.Limits).
type Limits = hostinfo.Limits

// CgroupMode is the cgroup layout ReadLimits found.
type CgroupMode = hostinfo.CgroupMode

// The cgroup layouts.
const (
	CgroupModeV1     = hostinfo.CgroupModeV1
	CgroupModeV2     = hostinfo.CgroupModeV2
	CgroupModeHybrid = hostinfo.CgroupModeHybrid
)

// Host is what users share: memory, CPUs and GPUs. It comes from the spec
// file's host section or from ReadHost.
type Host = hostinfo.Host

// GPU is one device as docker's --gpus device=... names it.
type GPU = hostinfo.GPU

// HostOptions say where ReadHost looks.
type HostOptions = hostinfo.HostOptions

// ReadLimits reads the limits in force for the calling process under root
// ("/" normally); see hostinfo.ReadLimits.
func ReadLimits(root string) (*Limits, error) { return hostinfo.ReadLimits(root) }

// ReadHost reads this machine's memory, online CPUs and NVIDIA GPUs without
// cgo; see hostinfo.ReadHost.
func ReadHost(ctx context.Context, opts HostOptions) (Host, error) {
	return hostinfo.ReadHost(ctx, opts)
}

// ParseNvidiaSMIList parses the output of `nvidia-smi -L`; see
// hostinfo.ParseNvidiaSMIList.
func ParseNvidiaSMIList(out []byte) []GPU { return hostinfo.ParseNvidiaSMIList(out) }

// ParseCPUList parses a Linux CPU list such as "0-3,8,10-11"; see
// hostinfo.ParseCPUList.
func ParseCPUList(s string) ([]int, error) { return hostinfo.ParseCPUList(s) }

// FormatCPUList prints sorted CPU numbers as a Linux CPU list ("0-3,8").
func FormatCPUList(cpus []int) string { return hostinfo.FormatCPUList(cpus) }
