package hostinfo

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/units"
)

func TestReadLimitsFixtures(t *testing.T) {
	ulimits := []Ulimit{{"cpu", -1, -1}, {"stack", 64 << 20, 64 << 20}, {"nproc", -1, -1}, {"nofile", 1048576, 1048576}, {"memlock", -1, -1}}
	for _, tc := range []struct {
		name string
		want Limits
	}{
		{"v2", Limits{Cgroup: "v2", Memory: 6 * units.GiB, MemorySwap: 6 * units.GiB, CPUs: 1.5e9, Cpuset: "0-1", PidsMax: 4096, ShmSize: units.GiB, Ulimits: ulimits}},
		{"v1", Limits{Cgroup: "v1", Memory: 4 * units.GiB, MemorySwap: 8 * units.GiB, CPUs: 2e9, Cpuset: "0-3", ShmSize: 64 * units.MiB}},
		// The "unlimited" sentinel 9223372036854771712 and a quota of -1 are no limit.
		{"v1-unlimited", Limits{Cgroup: "v1", ShmSize: 64 * units.MiB}},
		// Memory from the v1 controller, the parent slice's limit binding the leaf.
		{"hybrid", Limits{Cgroup: "hybrid", Memory: 16 * units.GiB, CPUs: 4e9, PidsMax: 10000, ShmSize: 16384000 * units.KiB}},
		// The leaf says max; the pod and kubepods above it do not.
		{"nested", Limits{Cgroup: "v2", Memory: units.GiB, CPUs: 0.5e9, Cpuset: "2-5", PidsMax: 100, ShmSize: 2 * units.GiB}},
		// CUDA_VISIBLE_DEVICES picks devices by index and stops at the first bad one.
		{"gpus", Limits{Cgroup: "v2", GPUs: []string{"2", "0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadLimits(filepath.Join("testdata/limits", tc.name))
			require.NoError(t, err)
			assert.Equal(t, &tc.want, got)
		})
	}
}

func TestReadLimitsVoidHidesDeviceNodes(t *testing.T) {
	got, err := ReadLimits("testdata/limits/v2")
	require.NoError(t, err)
	assert.Empty(t, got.GPUs, "NVIDIA_VISIBLE_DEVICES=void means no GPU even with /dev/nvidia0 present")
}

func TestCudaVisible(t *testing.T) {
	devs := []string{"0", "1", "2"}
	assert.Empty(t, cudaVisible(devs, ""))
	assert.Empty(t, cudaVisible(devs, "-1"))
	assert.Equal(t, []string{"1"}, cudaVisible(devs, "1"))
	assert.Equal(t, []string{"GPU-abc", "0"}, cudaVisible(devs, "GPU-abc,0"))
}

func TestReadLimitsErrors(t *testing.T) {
	_, err := ReadLimits(t.TempDir())
	assert.ErrorContains(t, err, "proc/self/mountinfo")
}

func TestReadHostFixture(t *testing.T) {
	h, err := ReadHost(context.Background(), HostOptions{Root: "testdata/host", NvidiaSMI: "-"})
	require.NoError(t, err)
	assert.Equal(t, units.Size(263856044)*units.KiB, h.Memory)
	assert.Equal(t, 64, h.NumCPU())
	// PCI bus order is NVML's index order.
	assert.Equal(t, []GPU{
		{ID: "0", UUID: "GPU-0000:18:00.0", Name: "NVIDIA A100-SXM4-80GB"},
		{ID: "1", UUID: "GPU-0000:3b:00.0", Name: "NVIDIA A100-SXM4-80GB"},
	}, h.GPUs)
}

func TestReadHostThisMachine(t *testing.T) {
	h, err := ReadHost(context.Background(), HostOptions{})
	require.NoError(t, err)
	assert.Positive(t, h.Memory)
	assert.Positive(t, h.NumCPU())
}

func TestParseNvidiaSMIList(t *testing.T) {
	out := "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-1111)\n  MIG 1g.10gb Device 0: (UUID: MIG-2222)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-3333)\n"
	assert.Equal(t, []GPU{{ID: "0", Name: "NVIDIA A100-SXM4-80GB", UUID: "GPU-1111"}, {ID: "1", Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-3333"}}, ParseNvidiaSMIList([]byte(out)))
}
