package hostinfo

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tendkit/tend/units"
)

// Host is what users share: memory, CPUs and GPUs. It comes from the spec
// file's host section or from ReadHost.
type Host struct {
	Memory units.Size `json:"memory"`
	// CPUs lists the online CPU numbers (0..N-1 on most machines).
	CPUs []int `json:"cpus"`
	GPUs []GPU `json:"gpus,omitempty"`
}

// GPU is one device as docker's --gpus device=... names it.
type GPU struct {
	ID   string `json:"id"`             // the NVML index ("0") or, when only that is known, the UUID
	UUID string `json:"uuid,omitempty"` // "GPU-8f...": stable across reboots
	Name string `json:"name,omitempty"`
}

// NumCPU returns the number of online CPUs.
func (h Host) NumCPU() int { return len(h.CPUs) }

// HostOptions say where ReadHost looks.
type HostOptions struct {
	// Root is where /proc and /sys are found ("" = "/"); tests point it at
	// a fixture tree.
	Root string
	// NvidiaSMI is the nvidia-smi program used when /proc/driver/nvidia
	// lists no GPU ("" = look it up in PATH when Root is "/"; "-" = never).
	NvidiaSMI string
}

// ReadHost reads this machine's memory (MemTotal from /proc/meminfo, or the
// cgroup limit of the calling process when that is smaller), its online
// CPUs (/sys/devices/system/cpu/online) and its NVIDIA GPUs, without cgo:
// from /proc/driver/nvidia/gpus/*/information (in PCI bus order, the order
// of NVML indices) or, when that is absent, `nvidia-smi -L`.
// It is Linux-only: elsewhere it returns an error wrapping
// errors.ErrUnsupported, and the spec's host section must describe the
// host.
func ReadHost(ctx context.Context, opts HostOptions) (Host, error) {
	return readHost(ctx, opts)
}

var smiLine = regexp.MustCompile(`^GPU (\d+): (.*?) \(UUID: ([^)]+)\)`)

// ParseNvidiaSMIList parses the output of `nvidia-smi -L`
// ("GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-...)"); MIG lines are skipped.
func ParseNvidiaSMIList(out []byte) []GPU {
	var gpus []GPU
	for line := range strings.SplitSeq(string(out), "\n") {
		if m := smiLine.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			gpus = append(gpus, GPU{ID: m[1], Name: m[2], UUID: m[3]})
		}
	}
	return gpus
}

// ParseCPUList parses a Linux CPU list such as "0-3,8,10-11". CPU numbers
// must be below MaxCPUs, which also bounds the result's length.
func ParseCPUList(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	seen := make(map[int]bool)
	var cpus []int
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a {
			return nil, fmt.Errorf("cpu list %.40q: bad part %.20q (use e.g. 0-3,8)", s, part)
		}
		if b >= MaxCPUs {
			return nil, fmt.Errorf("cpu list %.40q: CPU %d is over the limit of %d (MaxCPUs): %w", s, b, MaxCPUs-1, ErrTooLarge)
		}
		if total += b - a + 1; total > MaxCPUs {
			return nil, fmt.Errorf("cpu list %.40q: names more than %d CPUs (MaxCPUs): %w", s, MaxCPUs, ErrTooLarge)
		}
		for c := a; c <= b; c++ {
			if !seen[c] {
				seen[c] = true
				cpus = append(cpus, c)
			}
		}
	}
	slices.Sort(cpus)
	return cpus, nil
}

// FormatCPUList prints sorted CPU numbers as a Linux CPU list ("0-3,8").
func FormatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", cpus[i], cpus[j])
		} else {
			fmt.Fprintf(&b, "%d", cpus[i])
		}
		i = j + 1
	}
	return b.String()
}
