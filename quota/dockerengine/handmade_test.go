package dockerengine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/quota"
	"github.com/tendkit/tend/quota/dockerengine"
)

// TestRealEngineAuditHandMadeWrongs starts containers by hand on the real
// engine, each right but for one thing done the way people do it, and
// checks that Audit reports exactly that: only the pids limit missing,
// --pids-limit -1, an explicit --shm-size 64m, --memory-swap -1, --memory
// without --memory-swap (docker then gives twice the memory), a CPU limit
// by --cpu-quota, two users on one GPU by NVIDIA_VISIBLE_DEVICES, a user
// with NVIDIA_VISIBLE_DEVICES=all, the local log driver with a large
// max-size, a GPU container the spec does not know. A user whose container
// was created but never started and one that stopped are not running (not
// drift), and a stopped GPU container the spec does not know is not drift
// either.
func TestRealEngineAuditHandMadeWrongs(t *testing.T) {
	f := newFixture(t)
	p := "h" + f.id
	spec := fmt.Sprintf(`host: {memory: 16GiB, cpus: 2, gpus: ["0", "1", "2", "3"]}
defaults:
  image: %s
  memory: 256MiB
  memory_swap: 256MiB
  cpus: 0.5
  pids_limit: 64
  shm_size: 128MiB
  logging: {max_size: 1MiB, max_file: 2}
users:
  - {name: %[2]s-ok}
  - {name: %[2]s-nopids}
  - {name: %[2]s-pids-unlimited}
  - {name: %[2]s-shm64}
  - {name: %[2]s-swap-unlimited}
  - {name: %[2]s-swap-unset}
  - {name: %[2]s-quota}
  - {name: %[2]s-gpu0, gpus: ["0"]}
  - {name: %[2]s-gpu1, gpus: ["1"]}
  - {name: %[2]s-gpuall, gpus: ["2"]}
  - {name: %[2]s-local}
  - {name: %[2]s-created}
  - {name: %[2]s-stopped}
`, f.image, p)
	s, err := quota.ParseSpec("spec.yaml", []byte(spec))
	require.NoError(t, err)
	plan, err := s.Plan(quota.Host{}, quota.PlanOptions{})
	require.NoError(t, err)

	base := []string{"--label", f.label, "--env", "PROBE_SLEEP=1", "--log-opt", "max-size=1m", "--log-opt", "max-file=2"}
	right := []string{"--memory", "256m", "--memory-swap", "256m", "--cpus", "0.5", "--pids-limit", "64", "--shm-size", "128m"}
	start := func(name string, args ...string) {
		a := append([]string{"run", "-d", "--name", p + "-" + name}, base...)
		a = append(a, args...)
		f.run(t, append(a, f.image)...)
	}
	start("ok", right...)
	start("nopids", "--memory", "256m", "--memory-swap", "256m", "--cpus", "0.5", "--shm-size", "128m")
	start("pids-unlimited", append(right, "--pids-limit", "-1")...)
	start("shm64", append(right, "--shm-size", "64m")...)
	start("swap-unlimited", append(right, "--memory-swap", "-1")...)
	start("swap-unset", "--memory", "256m", "--cpus", "0.5", "--pids-limit", "64", "--shm-size", "128m")
	start("quota", "--memory", "256m", "--memory-swap", "256m", "--cpu-quota", "150000", "--cpu-period", "100000", "--pids-limit", "64", "--shm-size", "128m")
	start("gpu0", append(right, "--env", "NVIDIA_VISIBLE_DEVICES=0")...)
	start("gpu1", append(right, "--env", "NVIDIA_VISIBLE_DEVICES=0")...)
	start("gpuall", append(right, "--env", "NVIDIA_VISIBLE_DEVICES=all")...)
	start("local", append(right, "--log-driver", "local", "--log-opt", "max-size=100m")...)
	start("stranger", append(right, "--env", "NVIDIA_VISIBLE_DEVICES=GPU-4b1c")...)
	f.run(t, append(append([]string{"create", "--name", p + "-created"}, base...), append(right, f.image)...)...)
	start("stopped", right...)
	start("stopped-stranger", append(right, "--env", "NVIDIA_VISIBLE_DEVICES=3")...)
	f.run(t, "stop", "-t", "1", p+"-stopped", p+"-stopped-stranger")

	e, err := dockerengine.New(dockerengine.Options{CallTimeout: 20 * time.Second, Label: f.label})
	require.NoError(t, err)
	defer e.Close()
	rep, err := quota.Audit(f.ctx, e, plan.Users, quota.AuditOptions{})
	require.NoError(t, err)
	got := map[string][]string{}
	for _, d := range rep.Drifts {
		t.Logf("%s", d)
		n := strings.TrimPrefix(d.Container, p+"-")
		got[n] = append(got[n], string(d.Kind)+": "+d.Message)
	}
	want := map[string][]string{
		"nopids":         {"pids: pids limit unlimited, the spec says 64"},
		"pids-unlimited": {"pids: pids limit unlimited, the spec says 64"},
		"shm64":          {`shm: /dev/shm is docker's default 64MiB (PyTorch DataLoader workers die with "Bus error"), the spec says 128MiB`},
		"swap-unlimited": {"swap: unlimited swap (memory_swap -1)"},
		"swap-unset":     {"swap: memory and swap 512MiB, the spec says 256MiB"},
		"quota":          {"cpus: CPU limit 1.5, the spec says 0.5"},
		"gpu0":           {fmt.Sprintf("gpu-shared: GPU 0 is shared by %[1]s-gpu0, %[1]s-gpu1", p), fmt.Sprintf("gpu-shared: its GPUs are shared with %s-gpuall, which has all GPUs", p)},
		"gpu1": {"gpu: runs with GPUs 0, the spec gives 1", fmt.Sprintf("gpu-shared: GPU 0 is shared by %[1]s-gpu0, %[1]s-gpu1", p),
			fmt.Sprintf("gpu-shared: its GPUs are shared with %s-gpuall, which has all GPUs", p)},
		"gpuall": {"gpu: runs with GPUs all, the spec gives 2", fmt.Sprintf("gpu-shared: has all GPUs, which %[1]s-gpu0, %[1]s-gpu1, %[1]s-stranger also use", p)},
		"local":  {"logs: the log may grow to 200MiB (max-size 100m, max-file 2), the spec says json-file 1MiB x 2"},
		"stranger": {fmt.Sprintf("gpu-shared: its GPUs are shared with %s-gpuall, which has all GPUs", p),
			"unknown-gpu: uses GPUs (GPU-4b1c) but the spec has no user of that name"},
	}
	for n, w := range want {
		assert.ElementsMatch(t, w, got[n], n)
	}
	for n := range got {
		assert.Contains(t, want, n, "unexpected drift")
	}
	assert.Equal(t, []string{p + "-ok"}, rep.Matched)
	assert.ElementsMatch(t, []string{p + "-created", p + "-stopped"}, rep.NotRunning)
	assert.Equal(t, 12, rep.Checked, "running containers only")
}
