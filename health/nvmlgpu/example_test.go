//go:build cgo && !nonvml

package nvmlgpu_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/health/nvmlgpu"
)

// The GPU check in a resident prober: NVML stays open and XIDs the policy
// calls fatal fail the check. Marked optional, a machine without NVML
// skips it instead of failing.
func ExampleGPU() {
	gpu := nvmlgpu.New(health.GPUOptions{MinCount: 1, XID: health.XIDPolicy{Fatal: []uint64{48, 79}}})
	p := &health.Prober{
		Timeout: 5 * time.Second,
		Checks:  []health.Check{health.Configured{Inner: gpu, Optional: true}},
	}
	p.Start(context.Background()) // registers XID and ECC events where NVML is there
	defer p.Close()
	r := p.Run(context.Background(), health.ProfileLiveness)
	fmt.Println(r.Results[0].Line())
}
