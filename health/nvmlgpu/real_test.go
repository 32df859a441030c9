//go:build cgo && !nonvml

package nvmlgpu

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/health"
)

// TestGPUReal runs the check against the machine's own NVML, one-shot and
// started (events registered). It is opt-in (TEND_GPU=1) since most
// machines, CI included, have no GPU.
func TestGPUReal(t *testing.T) {
	if os.Getenv("TEND_GPU") != "1" {
		t.Skip("set TEND_GPU=1 on a machine with an NVIDIA GPU to run the real NVML check")
	}
	// One-shot, as a HEALTHCHECK exec probe runs it: Init, read, Shutdown.
	for i := range 3 {
		start := time.Now()
		r := New(health.GPUOptions{MinCount: 1}).Check(context.Background())
		t.Logf("one-shot check %d: %s (%s)", i, r.Message, time.Since(start).Round(time.Microsecond))
		require.NotEqual(t, health.StatusFail, r.Status, r.Message)
	}
	// Too many GPUs asked for fails, naming the count.
	r := New(health.GPUOptions{MinCount: 64}).Check(context.Background())
	assert.Equal(t, health.StatusFail, r.Status)
	assert.Contains(t, r.Message, "want at least 64")

	// Started: NVML stays open, events registered.
	g := New(health.GPUOptions{MinCount: 1})
	p := &health.Prober{Timeout: 20 * time.Second, Checks: []health.Check{g}}
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	for i := range 3 {
		rep := p.Run(context.Background(), health.ProfileLiveness)
		require.Len(t, rep.Results, 1, "the GPU check is part of liveness")
		t.Logf("started check %d: %s", i, rep.Results[0].Line())
		assert.True(t, rep.Healthy(), rep.String())
	}
	rep := p.Run(context.Background(), health.ProfileReadiness)
	b, _ := json.MarshalIndent(rep.Results[0].Details, "", "  ")
	t.Logf("details: %s", b)
	devs := rep.Results[0].Details["devices"].([]health.GPUDevice)
	require.NotEmpty(t, devs)
	for _, d := range devs {
		assert.NotEmpty(t, d.UUID)
		assert.Positive(t, d.MemoryTotal)
		assert.False(t, d.Lost)
		assert.LessOrEqual(t, d.ECCUncorrectedVolatile, int64(0), "uncorrectable ECC errors on %s", d.UUID)
	}
	t.Logf("XIDs seen while started: %v", g.XIDs())
}
