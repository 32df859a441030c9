//go:build !cgo || nonvml

package health

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGPUStubSkips(t *testing.T) {
	r := NewGPU(GPUOptions{MinCount: 1}).Check(context.Background())
	assert.Equal(t, StatusSkip, r.Status)
	assert.Contains(t, r.Message, "built without NVML support")
}
