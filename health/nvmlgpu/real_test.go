//go:build cgo && !nonvml

package nvmlgpu

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tendkit/tend/health"
)

// TestGPUReal runs the check against the machine's own NVML. It is opt-in
// (TEND_GPU=1) since most machines, CI included, have no GPU.
func TestGPUReal(t *testing.T) {
	if os.Getenv("TEND_GPU") != "1" {
		t.Skip("set TEND_GPU=1 on a machine with an NVIDIA GPU to run the real NVML check")
	}
	g := New(health.GPUOptions{MinCount: 1})
	p := &health.Prober{Timeout: 20 * time.Second, Checks: []health.Check{g}}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	defer p.Close()
	r := p.Run(context.Background(), health.ProfileReadiness)
	t.Log(r.String())
	assert.True(t, r.Healthy(), r.String())
}
