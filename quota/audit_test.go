package quota

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/units"
)

type fakeEngine struct {
	cs    []Container
	err   error
	block bool
}

func (f fakeEngine) Running(ctx context.Context) ([]Container, error) {
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.cs, f.err
}

func capped() map[string]string { return map[string]string{"max-size": "10m", "max-file": "5"} }

func TestAuditDrift(t *testing.T) {
	users := []QuotaSpec{
		{Name: "ann", Memory: units.GiB, MemorySwap: units.GiB, CPUs: 2e9, PidsLimit: 100, ShmSize: units.GiB, GPUs: GPUs{IDs: []string{"1"}}},
		{Name: "ben", Memory: units.GiB, CPUs: 1e9},
		{Name: "cat", Memory: units.GiB},
	}
	running := []Container{
		// Tighter than the spec everywhere: no drift.
		{Name: "ann", Memory: units.GiB / 2, MemorySwap: units.GiB / 2, CPUs: 1e9, PidsLimit: 50, ShmSize: 2 * units.GiB, GPUs: []string{"1"}, LogDriver: "json-file", LogOptions: capped()},
		// Uncapped log, looser memory, --gpus 1 (GPU 0), CPU quota looser.
		{Name: "ben", Memory: 2 * units.GiB, CPUs: 1.5e9, ShmSize: 64 * units.MiB, GPUs: []string{"0"}, LogDriver: "json-file"},
		// Not in the spec, all GPUs.
		{Name: "zed", AllGPUs: true, LogDriver: "local"},
		// Not in the spec, no GPU: ignored.
		{Name: "web", LogDriver: "json-file"},
	}
	rep, err := Audit(context.Background(), fakeEngine{cs: running}, users, AuditOptions{})
	require.NoError(t, err)
	var got []string
	for _, d := range rep.Drifts {
		got = append(got, d.Container+" "+string(d.Kind))
	}
	assert.Equal(t, []string{"ann gpu-shared", "ben cpus", "ben gpu", "ben gpu-shared", "ben logs", "ben memory", "zed gpu-shared", "zed unknown-gpu"}, got, "%v", rep.Drifts)
	assert.Empty(t, rep.Matched, "ann shares its GPU with zed")
	assert.Equal(t, []string{"cat"}, rep.NotRunning)
	assert.Equal(t, 4, rep.Checked)
}

func TestAuditHonoursDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Audit(ctx, fakeEngine{block: true}, nil, AuditOptions{})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)

	start = time.Now()
	_, err = Audit(context.Background(), fakeEngine{block: true}, nil, AuditOptions{Timeout: 50 * time.Millisecond})
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a default deadline without one on ctx")
	assert.Less(t, time.Since(start), 5*time.Second)

	boom := errors.New("boom")
	_, err = Audit(context.Background(), fakeEngine{err: boom}, nil, AuditOptions{})
	assert.ErrorIs(t, err, boom)
}

// TestAuditGPUsByUUIDAndIndex: with the host's GPUs, a container given a
// GPU by UUID and a user given it by index hold one GPU: no drift for the
// right one, a shared GPU for a stranger on the same one by UUID.
func TestAuditGPUsByUUIDAndIndex(t *testing.T) {
	gpus := []GPU{{ID: "0", UUID: "GPU-aaaa"}, {ID: "1", UUID: "GPU-bbbb"}}
	users := []QuotaSpec{{Name: "ann", GPUs: GPUs{IDs: []string{"0"}}}, {Name: "ben", GPUs: GPUs{IDs: []string{"GPU-bbbb"}}}}
	running := []Container{
		{Name: "ann", GPUs: []string{"GPU-aaaa"}, LogDriver: "json-file", LogOptions: capped()},
		{Name: "ben", GPUs: []string{"1"}, LogDriver: "json-file", LogOptions: capped()},
		{Name: "zed", GPUs: []string{"0"}, LogDriver: "json-file", LogOptions: capped()},
	}
	rep, err := Audit(context.Background(), fakeEngine{cs: running}, users, AuditOptions{GPUs: gpus})
	require.NoError(t, err)
	var got []string
	for _, d := range rep.Drifts {
		got = append(got, d.String())
	}
	assert.Equal(t, []string{
		"container ann: gpu-shared: GPU 0 is shared by ann, zed",
		"container zed: gpu-shared: GPU 0 is shared by ann, zed",
		"container zed: unknown-gpu: uses GPUs (0) but the spec has no user of that name",
	}, got)
	assert.Equal(t, []string{"ben"}, rep.Matched)
	assert.Equal(t, []string{"GPU-aaaa"}, running[0].GPUs, "the caller's containers are left as they are")
	assert.Equal(t, []string{"0"}, users[0].GPUs.IDs)

	// Without the host's GPUs, the UUID and the index are two GPUs.
	rep, err = Audit(context.Background(), fakeEngine{cs: running[:2]}, users, AuditOptions{})
	require.NoError(t, err)
	assert.Len(t, rep.Drifts, 2, "%v", rep.Drifts)
}
