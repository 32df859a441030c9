//go:build !cgo || nonvml

package main

import "github.com/tendkit/tend/health"

// nvmlBuilt reports whether this binary can load NVML.
const nvmlBuilt = false

// newGPU returns a check that fails, since this build cannot load NVML: a
// configured GPU requirement must never pass unchecked. Marked optional,
// it skips.
func newGPU(health.GPUOptions) health.Check {
	return &health.Unavailable{
		Label:   "gpu",
		Err:     health.ErrNoNVMLSupport,
		Hint:    "use the cgo build of tend-health (CGO_ENABLED=1 go build ./adapters/tend-health), or mark the gpu check optional",
		IsLocal: true,
	}
}
