package health

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadCgroupMemory(t *testing.T) {
	tests := []struct {
		dir     string
		want    CgroupMemory
		wantErr string
	}{
		{dir: "v2", want: CgroupMemory{Version: 2, Usage: 805306368, InactiveFile: 268435456, Limit: 1 << 30, OOMKills: 2}},
		{dir: "v2-nolimit", want: CgroupMemory{Version: 2, Usage: 100 << 20}},
		{dir: "v1", want: CgroupMemory{Version: 1, Usage: 512 << 20, InactiveFile: 256 << 20, OOMKills: 1}},
		{dir: "v1-limit", want: CgroupMemory{Version: 1, Usage: 2 << 30, Limit: 2 << 30}},
		{dir: "v2-root", wantErr: "the host's root cgroup"},
		{dir: "v2-garbage", wantErr: `memory.current: "lots" is not a number`},
		{dir: "empty", wantErr: "neither cgroup v2 memory.current nor v1"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got, err := ReadCgroupMemory(filepath.Join("testdata/cgroup", tt.dir))
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMemoryCheck(t *testing.T) {
	tests := []struct {
		name   string
		check  *Memory
		status Status
		msg    string
	}{
		{"usage under the limit but OOM kills since the container started", &Memory{Root: "testdata/cgroup/v2"}, StatusWarn, "512.0MiB of 1.0GiB (50%), 2 OOM kills"},
		{"OOM kills fail when asked", &Memory{Root: "testdata/cgroup/v2", FailOnOOMKill: true}, StatusFail, "2 OOM kills"},
		{"near the limit warns", &Memory{Root: "testdata/cgroup/v2-full"}, StatusWarn, "992.0MiB of 1.0GiB (97%), at or over 90%"},
		{"over the fail threshold fails", &Memory{Root: "testdata/cgroup/v2-full", FailUsage: 95}, StatusFail, "at or over 95%"},
		{"a higher warning threshold passes", &Memory{Root: "testdata/cgroup/v2-full", WarnUsage: 99}, StatusPass, "992.0MiB of 1.0GiB (97%)"},
		{"no limit", &Memory{Root: "testdata/cgroup/v2-nolimit"}, StatusPass, "100.0MiB used, no limit"},
		{"v1 no limit", &Memory{Root: "testdata/cgroup/v1"}, StatusWarn, "256.0MiB used, no limit, 1 OOM kills"},
		{"v1 at the limit", &Memory{Root: "testdata/cgroup/v1-limit"}, StatusWarn, "2.0GiB of 2.0GiB (100%)"},
		{"no cgroup here cannot run", &Memory{Root: "testdata/cgroup/nowhere"}, StatusFail, "neither cgroup v2"},
		{"the host's root cgroup cannot run", &Memory{Root: "testdata/cgroup/v2-root"}, StatusFail, "the host's root cgroup"},
		{"garbage fails", &Memory{Root: "testdata/cgroup/v2-garbage"}, StatusFail, "not a number"},
		{"own v1 cgroup found through the self file", &Memory{Root: "testdata/cgroup/v1-nested", Proc: "testdata/proc/v1-nested", FailUsage: 95}, StatusFail, "at or over 95%"},
		{"own v2 cgroup found through the self file", &Memory{Root: "testdata/cgroup/v2-nested", Proc: "testdata/proc/v2-nested"}, StatusPass, "100.0MiB used, no limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.check.Check(context.Background())
			assert.Equal(t, tt.status, r.Status, r.Message)
			assert.Contains(t, r.Message, tt.msg)
		})
	}
}

func TestMemoryCountsOOMKillsSinceStart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("memory.current", "1000\n")
	write("memory.max", "max\n")
	write("memory.events", "oom 5\noom_kill 5\n")
	m := &Memory{Root: dir}
	require.NoError(t, m.Start(context.Background()))
	r := m.Check(context.Background())
	assert.Equal(t, StatusPass, r.Status, "kills before Start are not counted: %s", r.Message)
	write("memory.events", "oom 6\noom_kill 6\n")
	r = m.Check(context.Background())
	assert.Equal(t, StatusWarn, r.Status)
	assert.Contains(t, r.Message, "1 OOM kills")
	assert.EqualValues(t, 1, r.Details["oom_kills"])
}

func TestMemoryIsLocal(t *testing.T) {
	assert.True(t, InProfile(&Memory{}, ProfileLiveness))
}

// FuzzReadCgroupMemory feeds arbitrary file contents to the v2 reader: it
// must return a value or an error, never panic.
func FuzzReadCgroupMemory(f *testing.F) {
	f.Add("805306368\n", "max\n", "oom_kill 2\n", "inactive_file 3\n")
	f.Add("1", "1073741824", "oom_kill x", "")
	f.Add("18446744073709551615", "-1", "oom_kill\n", "inactive_file 1 2")
	f.Fuzz(func(t *testing.T, current, limit, events, stat string) {
		dir := t.TempDir()
		for name, s := range map[string]string{"memory.current": current, "memory.max": limit, "memory.events": events, "memory.stat": stat} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644))
		}
		m, err := ReadCgroupMemory(dir)
		if err == nil {
			assert.GreaterOrEqual(t, m.WorkingSet(), int64(0))
		}
	})
}
