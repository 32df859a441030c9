package dockerengine_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
	"github.com/tendkit/tend/quota"
	"github.com/tendkit/tend/quota/dockerengine"
	"github.com/tendkit/tend/units"
)

// fixture is a probe image and a unique label for one test run.
type fixture struct {
	docker, image, label, id string
	ctx                      context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testenv.Short(t)
	docker := testenv.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	f := &fixture{docker: docker, id: hex.EncodeToString(b), ctx: ctx}
	f.image = "tend-test-quota-" + f.id
	f.label = "tend.test.quota=" + f.id
	dir := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "probe"), "../testdata/probe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\n"), 0o644))
	out, err = exec.CommandContext(ctx, docker, "build", "-q", "--label", f.label, "-t", f.image, dir).CombinedOutput()
	require.NoError(t, err, "docker build: %s", out)
	t.Cleanup(func() {
		ids, _ := exec.Command(docker, "ps", "-aq", "--filter", "label="+f.label).Output()
		if fs := strings.Fields(string(ids)); len(fs) > 0 {
			_ = exec.Command(docker, append([]string{"rm", "-f"}, fs...)...).Run()
		}
		_ = exec.Command(docker, "rmi", "-f", f.image).Run()
	})
	return f
}

func (f *fixture) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(f.ctx, f.docker, args...).CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// limitsOf waits for the probe's JSON line in the container's log.
func (f *fixture) limitsOf(t *testing.T, name string) quota.Limits {
	t.Helper()
	for range 100 {
		out, _ := exec.CommandContext(f.ctx, f.docker, "logs", name).Output()
		if line, _, ok := bytes.Cut(out, []byte("\n")); ok {
			var l quota.Limits
			require.NoError(t, json.Unmarshal(line, &l), "%s", out)
			return l
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no limits from %s", name)
	return quota.Limits{}
}

func (f *fixture) logConfig(t *testing.T, name string) (string, map[string]string) {
	t.Helper()
	var lc struct {
		Type   string
		Config map[string]string
	}
	require.NoError(t, json.Unmarshal([]byte(f.run(t, "inspect", "--format", "{{json .HostConfig.LogConfig}}", name)), &lc))
	return lc.Type, lc.Config
}

// insert puts extra arguments right after "run".
func insert(args []string, extra ...string) []string {
	return slices.Insert(slices.Clone(args), 1, extra...)
}

// TestRealEngineLimitsAndAudit renders a spec as docker run arguments and
// as a compose file, runs both on the real engine, reads the limits back
// from inside the containers (cgroup, /dev/shm, ulimits) and the log caps
// from docker inspect, then starts containers by hand the wrong way and
// checks that Audit (through this package) reports each drift, and
// nothing once they are gone. This machine has no GPU: GPU assignment is
// given to containers with NVIDIA_VISIBLE_DEVICES, which the engine
// reports since the container sets it itself.
func TestRealEngineLimitsAndAudit(t *testing.T) {
	f := newFixture(t)
	host, err := quota.ReadHost(f.ctx, quota.HostOptions{})
	require.NoError(t, err)
	secret := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(secret, []byte("s3cret\n"), 0o600))
	p := "q" + f.id
	spec := fmt.Sprintf(`host: {memory: %d, cpus: %d, gpus: ["0", "1"]}
secrets:
  tok: {file: %s}
defaults:
  image: %s
  memory: 64MiB
  memory_swap: 64MiB
  cpus: 0.5
  pids_limit: 64
  shm_size: 16MiB
  ulimits: {stack: 8388608, nofile: 2048}
  env: {PROBE_SLEEP: "1", TOKEN_FILE: /run/secrets/tok, NVIDIA_VISIBLE_DEVICES: void}
  secrets: [tok]
  logging: {max_size: 1MiB, max_file: 2}
users:
  - name: %s-args
  - name: %s-compose
    memory: 48MiB
    memory_swap: 48MiB
    logging: {driver: local, max_size: 2MiB, max_file: 3}
  - name: %s-gpu
    gpus: ["0"]
  - name: %s-bad
    memory: 512MiB
    memory_swap: 512MiB
    shm_size: 128MiB
`, host.Memory, host.NumCPU(), secret, f.image, p, p, p, p)
	s, err := quota.ParseSpec("spec.yaml", []byte(spec))
	require.NoError(t, err)
	plan, err := s.Plan(quota.Host{}, quota.PlanOptions{})
	require.NoError(t, err)
	byName := map[string]quota.QuotaSpec{}
	for _, q := range plan.Users {
		byName[strings.TrimPrefix(q.Name, p+"-")] = q
	}

	// docker run with the generated arguments.
	args, err := quota.DockerArgs(byName["args"])
	require.NoError(t, err)
	f.run(t, insert(args, "--label", f.label)...)

	// docker-compose with the generated file.
	compose, err := quota.Compose([]quota.QuotaSpec{byName["compose"]})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-compose.yml"), compose, 0o644))
	if dc, err := exec.LookPath("docker-compose"); err == nil {
		project := "tendtest" + f.id
		t.Cleanup(func() {
			_ = exec.Command(dc, "-p", project, "-f", filepath.Join(dir, "docker-compose.yml"), "down", "-t", "1").Run()
		})
		up := exec.CommandContext(f.ctx, dc, "-p", project, "-f", filepath.Join(dir, "docker-compose.yml"), "up", "-d")
		out, err := up.CombinedOutput()
		require.NoError(t, err, "docker-compose up: %s\n%s", out, compose)
	} else {
		testenv.Missing(t, "docker-compose not found (apt-get install docker-compose)")
	}

	for _, name := range []string{"args", "compose"} {
		q := byName[name]
		got := f.limitsOf(t, q.Name)
		t.Logf("%s: limits inside %+v", q.Name, got)
		assert.Equal(t, q.Memory, got.Memory, "%s memory (cgroup)", name)
		assert.Equal(t, q.CPUs, got.CPUs, "%s cpus (cgroup)", name)
		assert.Equal(t, q.PidsLimit, got.PidsMax, "%s pids (cgroup)", name)
		assert.Equal(t, q.ShmSize, got.ShmSize, "%s /dev/shm", name)
		if got.MemorySwap != 0 {
			assert.Equal(t, q.MemorySwap, got.MemorySwap, "%s memory+swap", name)
		}
		for _, u := range q.Ulimits {
			assert.Contains(t, got.Ulimits, u, "%s ulimit", name)
		}
		driver, opts := f.logConfig(t, q.Name)
		lg := q.Logging.Effective()
		assert.Equal(t, string(lg.Driver), driver, "%s log driver", name)
		assert.Equal(t, strings.TrimSuffix(strings.ToLower(lg.MaxSize.String()), "ib"), strings.TrimSuffix(opts["max-size"], "b"), "%s max-size", name)
		assert.Equal(t, fmt.Sprint(lg.MaxFile), opts["max-file"], "%s max-file", name)
		assert.Equal(t, "s3cret\n", f.run(t, "exec", q.Name, "/probe", "-cat", "/run/secrets/tok")+"\n", "%s secret mounted", name)
	}

	// The GPU user, right but for the GPU given by env (no GPU here).
	gq := byName["gpu"]
	gq.Env = map[string]string{"PROBE_SLEEP": "1", "TOKEN_FILE": "/run/secrets/tok", "NVIDIA_VISIBLE_DEVICES": "0"}
	gpuArgs, err := quota.DockerArgs(gq)
	require.NoError(t, err)
	i := slices.Index(gpuArgs, "--gpus")
	gpuArgs = slices.Delete(gpuArgs, i, i+2)
	f.run(t, insert(gpuArgs, "--label", f.label)...)
	// Wrong by hand: the known user "bad" with no limits, unlimited swap,
	// docker's 64 MiB /dev/shm and a log cap 25 times the spec's (this
	// daemon's log-opts cap every json-file log, so an uncapped one cannot
	// be made here; TestAuditDrift covers that); a stranger on GPU 0.
	f.run(t, "run", "-d", "--name", p+"-bad", "--label", f.label, "--memory-swap", "-1", "--log-driver", "json-file", "--log-opt", "max-size=50m",
		"--env", "PROBE_SLEEP=1", f.image)
	f.run(t, "run", "-d", "--name", p+"-stranger", "--label", f.label, "--memory", "64m", "--log-opt", "max-size=1m",
		"--env", "PROBE_SLEEP=1", "--env", "NVIDIA_VISIBLE_DEVICES=0", f.image)

	e, err := dockerengine.New(dockerengine.Options{CallTimeout: 20 * time.Second})
	require.NoError(t, err)
	defer e.Close()
	ours := ownEngine{e, p + "-"}
	rep, err := quota.Audit(f.ctx, ours, plan.Users, quota.AuditOptions{})
	require.NoError(t, err)
	kinds := map[string][]quota.DriftKind{}
	for _, d := range rep.Drifts {
		t.Logf("drift: %s", d)
		kinds[strings.TrimPrefix(d.Container, p+"-")] = append(kinds[strings.TrimPrefix(d.Container, p+"-")], d.Kind)
	}
	assert.ElementsMatch(t, []quota.DriftKind{quota.DriftKindCPUs, quota.DriftKindLogs, quota.DriftKindMemory, quota.DriftKindPids, quota.DriftKindShm, quota.DriftKindSwap}, kinds["bad"])
	assert.ElementsMatch(t, []quota.DriftKind{quota.DriftKindGPUShared, quota.DriftKindUnknownGPU}, kinds["stranger"])
	assert.ElementsMatch(t, []quota.DriftKind{quota.DriftKindGPUShared}, kinds["gpu"])
	assert.Empty(t, kinds["args"])
	assert.Empty(t, kinds["compose"])
	assert.ElementsMatch(t, []string{p + "-args", p + "-compose"}, rep.Matched)

	// The adapter, on the real engine, with the containers carrying our
	// label (from the image): exit 1 on drift, 0 once the wrong containers
	// are gone.
	specFile := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(specFile, []byte(spec), 0o644))
	bin := filepath.Join(t.TempDir(), "tend-compose")
	out, err := exec.CommandContext(f.ctx, "go", "build", "-o", bin, "../../adapters/tend-compose").CombinedOutput()
	require.NoError(t, err, "%s", out)
	audit := func() (int, string) {
		cmd := exec.CommandContext(f.ctx, bin, "--spec", specFile, "--audit", "--audit-label", f.label)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out2 := audit()
	assert.Equal(t, 1, code, out2)
	assert.Contains(t, out2, "container "+p+"-bad: shm: /dev/shm is docker's default 64MiB")
	assert.Contains(t, out2, "container "+p+"-stranger: unknown-gpu: uses GPUs (0)")
	f.run(t, "rm", "-f", p+"-bad", p+"-stranger")
	code, out2 = audit()
	assert.Equal(t, 0, code, out2)
	assert.Contains(t, out2, "user "+p+"-bad: not running")
	assert.Contains(t, out2, "3 containers checked, 3 match the spec, 0 drifts")

	rep, err = quota.Audit(f.ctx, ours, plan.Users, quota.AuditOptions{})
	require.NoError(t, err)
	assert.Empty(t, rep.Drifts)
	assert.ElementsMatch(t, []string{p + "-bad"}, rep.NotRunning)
}

// ownEngine keeps only this test's containers (the engine is shared).
type ownEngine struct {
	e      *dockerengine.Engine
	prefix string
}

func (o ownEngine) Running(ctx context.Context) ([]quota.Container, error) {
	cs, err := o.e.Running(ctx)
	return slices.DeleteFunc(cs, func(c quota.Container) bool { return !strings.HasPrefix(c.Name, o.prefix) }), err
}

var _ = units.MiB
