//go:build !cgo || nonvml

package health

import "context"

// NewGPU returns the GPU check. This binary was built without cgo (or with
// the nonvml tag), so it cannot load NVML: the check always skips.
func NewGPU(opts GPUOptions) Check { return gpuStub{} }

type gpuStub struct{}

func (gpuStub) Name() string { return "gpu" }

func (gpuStub) Check(context.Context) Result {
	return skipf("built without NVML support (CGO_ENABLED=0 or -tags nonvml)")
}
