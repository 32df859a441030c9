//go:build cgo && !nonvml

package main

import (
	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/health/nvmlgpu"
)

// nvmlBuilt reports whether this binary can load NVML.
const nvmlBuilt = true

// newGPU returns the NVML-backed GPU check.
func newGPU(opts health.GPUOptions) health.Check { return nvmlgpu.New(opts) }
