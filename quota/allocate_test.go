package quota

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/units"
)

func fourGPUHost() Host {
	return Host{Memory: 256 * units.GiB, CPUs: []int{0, 1, 2, 3, 4, 5, 6, 7}, GPUs: []GPU{{ID: "0"}, {ID: "1"}, {ID: "2", UUID: "GPU-2222"}, {ID: "3"}}}
}

func TestAllocateDeterministicAndDisjoint(t *testing.T) {
	users := []QuotaSpec{
		{Name: "alice", GPUs: GPUs{Count: 2}, Port: PortAuto, CPUs: 2e9, Cpuset: CpusetAuto},
		{Name: "bob", GPUs: GPUs{IDs: []string{"GPU-2222"}}, Port: 8888},
		{Name: "carol", GPUs: GPUs{Count: 1}, Port: PortAuto, CPUs: 1.5e9, Cpuset: CpusetAuto},
	}
	a, err := Allocate(fourGPUHost(), users, AllocateOptions{})
	require.NoError(t, err)
	b, err := Allocate(fourGPUHost(), users, AllocateOptions{})
	require.NoError(t, err)
	assert.Equal(t, a, b, "same input, same output")
	assert.Equal(t, []string{"0", "1"}, a[0].GPUs.IDs)
	assert.Equal(t, []string{"GPU-2222"}, a[1].GPUs.IDs, "a UUID reserves its GPU")
	assert.Equal(t, []string{"3"}, a[2].GPUs.IDs)
	assert.Equal(t, 8889, a[0].Port, "8888 is bob's")
	assert.Equal(t, 8890, a[2].Port)
	assert.Equal(t, "0-1", a[0].Cpuset)
	assert.Equal(t, "2-3", a[2].Cpuset, "1.5 CPUs pin 2")
	assert.Equal(t, GPUs{Count: 2}, users[0].GPUs, "input untouched")
}

// TestAllocateStable: adding a user, even at the front, moves no one when
// the previous allocation is given.
func TestAllocateStable(t *testing.T) {
	host := fourGPUHost()
	first, err := Allocate(host, []QuotaSpec{
		{Name: "bob", GPUs: GPUs{Count: 1}, Port: PortAuto},
		{Name: "carol", GPUs: GPUs{Count: 2}, Port: PortAuto},
	}, AllocateOptions{})
	require.NoError(t, err)
	appended, err := Allocate(host, []QuotaSpec{
		{Name: "bob", GPUs: GPUs{Count: 1}, Port: PortAuto},
		{Name: "carol", GPUs: GPUs{Count: 2}, Port: PortAuto},
		{Name: "dave", GPUs: GPUs{Count: 1}, Port: PortAuto},
	}, AllocateOptions{})
	require.NoError(t, err)
	assert.Equal(t, first, appended[:2], "appending keeps earlier users")
	inserted, err := Allocate(host, []QuotaSpec{
		{Name: "aaron", GPUs: GPUs{Count: 1}, Port: PortAuto},
		{Name: "bob", GPUs: GPUs{Count: 1}, Port: PortAuto},
		{Name: "carol", GPUs: GPUs{Count: 2}, Port: PortAuto},
	}, AllocateOptions{Previous: first})
	require.NoError(t, err)
	assert.Equal(t, first, inserted[1:], "with Previous, inserting keeps everyone")
	assert.Equal(t, []string{"3"}, inserted[0].GPUs.IDs)
	assert.Equal(t, 8890, inserted[0].Port)
}

func TestAllocateShortages(t *testing.T) {
	host := fourGPUHost()
	_, err := Allocate(host, []QuotaSpec{
		{Name: "alice", GPUs: GPUs{Count: 3}},
		{Name: "bob", GPUs: GPUs{Count: 2}},
		{Name: "carol", Cpuset: CpusetAuto},
		{Name: "dave", Port: PortAuto},
	}, AllocateOptions{PortRange: PortRange{9000, 9000}})
	assert.ErrorIs(t, err, ErrNotEnoughGPUs)
	assert.ErrorContains(t, err, "bob: field gpus: asks for 2 GPUs but only 1 of the host's 4 are free")
	assert.ErrorContains(t, err, "cpuset: auto needs cpus")
	_, err = Allocate(host, []QuotaSpec{{Name: "a", Port: 9000}, {Name: "b", Port: PortAuto}}, AllocateOptions{PortRange: PortRange{9000, 9000}})
	assert.ErrorContains(t, err, "no free host port left in 9000-9000")
}

func TestRenderNeedsAllocation(t *testing.T) {
	q := QuotaSpec{Name: "alice", Image: "x", GPUs: GPUs{Count: 1}}
	_, err := DockerArgs(q)
	assert.ErrorContains(t, err, "not resolved")
	_, err = Compose([]QuotaSpec{q})
	assert.Error(t, err)
	_, err = Kubernetes([]QuotaSpec{q})
	assert.Error(t, err)
}

func TestShellLineQuoting(t *testing.T) {
	args, err := DockerArgs(QuotaSpec{Name: "alice", Image: "img", GPUs: GPUs{IDs: []string{"0", "2"}}, Env: map[string]string{"A": "it's $HOME"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"run", "--detach", "--name", "alice", "--gpus", `"device=0,2"`, "--log-driver", "json-file", "--log-opt", "max-file=5", "--log-opt", "max-size=10m", "--env", "A=it's $HOME", "img"}, args)
	assert.Equal(t, `docker run --detach --name alice --gpus '"device=0,2"' --log-driver json-file --log-opt max-file=5 --log-opt max-size=10m --env 'A=it'\''s $HOME' img`, ShellLine(append([]string{"docker"}, args...)...))
}

func TestQuantities(t *testing.T) {
	assert.Equal(t, "6Gi", K8sQuantity(6*units.GiB))
	assert.Equal(t, "1536Mi", K8sQuantity(1536*units.MiB))
	assert.Equal(t, "1000", K8sQuantity(1000))
	assert.Equal(t, "500m", K8sCPU(5e8))
	assert.Equal(t, "2", K8sCPU(2e9))
	assert.Equal(t, "2", NanoCPUs(2e9).String())
	assert.Equal(t, "0.001", NanoCPUs(1e6).String())
	n, err := ParseCPUs("1500m")
	require.NoError(t, err)
	assert.Equal(t, NanoCPUs(1.5e9), n)
}

// TestGPUsZeroOptsOutOfDefaults: `gpus: 0` or `gpus: []` is a user asking
// for no GPU, not an unset field that inherits the defaults' GPUs.
func TestGPUsZeroOptsOutOfDefaults(t *testing.T) {
	s, err := ParseSpec("z.yaml", []byte(`host: {memory: 8g, cpus: 2, gpus: ["0", "1"]}
defaults: {image: x, memory: 1g, memory_swap: 1g, gpus: 1}
users: [{name: aa}, {name: bb, gpus: 0}, {name: cc, gpus: []}, {name: dd, gpus: ~}]
`))
	require.NoError(t, err)
	p, err := s.Plan(Host{}, PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"0"}, p.Users[0].GPUs.IDs)
	assert.True(t, p.Users[1].GPUs.IsZero(), "gpus: 0")
	assert.True(t, p.Users[2].GPUs.IsZero(), "gpus: []")
	assert.Equal(t, []string{"1"}, p.Users[3].GPUs.IDs, "gpus: ~ is unset: the defaults' count")
	for _, q := range p.Users[1:3] {
		args, err := DockerArgs(q)
		require.NoError(t, err)
		assert.NotContains(t, args, "--gpus", q.Name)
	}
}
