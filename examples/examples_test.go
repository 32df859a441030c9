// Package examples holds the files users copy (Dockerfile, tend.yaml,
// compose file, Kubernetes pod, a custom entrypoint); its tests prove each
// one builds, loads or runs.
package examples

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/internal/testenv"
)

var update = flag.Bool("update", false, "regenerate compose.yaml from quota.yaml with tend-compose")

// examples/tend.yaml is loaded by TestExampleTendYAMLLoads in
// adapters/internal/config (only the adapters may import their config
// package); TestPodCommandsRun runs the real binaries on it.

// goBuild builds pkg (a path relative to the repository root) into dir.
func goBuild(t *testing.T, pkg, dst string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", dst, pkg)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
}

// TestEntrypointBuildsOutsideModule copies examples/entrypoint/main.go into
// a module of its own, as a user would, and builds it there: every type its
// code names must be importable from outside github.com/tendkit/tend (no
// internal package in an exported API it uses).
func TestEntrypointBuildsOutsideModule(t *testing.T) {
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("entrypoint", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644))
	gomod := "module example.com/myentrypoint\n\ngo 1.26\n\n" +
		"require github.com/tendkit/tend v0.0.0\n\n" +
		"replace github.com/tendkit/tend => " + repo + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))
	// The repository's go.sum covers every module the example can reach.
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-mod=mod", "-o", filepath.Join(dir, "entrypoint"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build in a module of its own: %s", out)
	assert.FileExists(t, filepath.Join(dir, "entrypoint"))
}

// TestEntrypointExampleRuns builds examples/entrypoint and runs it with a
// home directory holding an old and a fresh cache file: the old one goes,
// the probe passes and the job after "--" runs.
func TestEntrypointExampleRuns(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "entrypoint")
	goBuild(t, "./examples/entrypoint", bin)
	home := t.TempDir()
	cache := filepath.Join(home, ".cache", "torch", "hub")
	require.NoError(t, os.MkdirAll(cache, 0o755))
	old, fresh := filepath.Join(cache, "old.pt"), filepath.Join(cache, "fresh.pt")
	require.NoError(t, os.WriteFile(old, make([]byte, 1000), 0o644))
	require.NoError(t, os.WriteFile(fresh, make([]byte, 1000), 0o644))
	long := time.Now().Add(-30 * 24 * time.Hour)
	require.NoError(t, os.Chtimes(old, long, long))

	cmd := exec.Command(bin, "-min-free", "1MiB", "--", "sh", "-c", "echo job ran")
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "sweep: deleted 1 entries, 1000B")
	assert.Contains(t, string(out), "healthy")
	assert.Contains(t, string(out), "job ran")
	assert.NoFileExists(t, old)
	assert.FileExists(t, fresh)

	// An impossible free-space minimum makes the probe fail: no job.
	cmd = exec.Command(bin, "-min-free", "1000TiB", "--", "sh", "-c", "echo job ran")
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "unhealthy")
	assert.NotContains(t, string(out), "job ran")
}

// TestComposeIsTendComposeOutput checks compose.yaml is what tend-compose
// makes of quota.yaml today (-update rewrites it) and that compose-go loads
// it: three users, four GPUs, none given twice.
func TestComposeIsTendComposeOutput(t *testing.T) {
	cmd := exec.Command("go", "run", "./adapters/tend-compose", "--spec", "examples/quota.yaml")
	cmd.Dir = ".."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "tend-compose: %s", stderr.String())
	if *update {
		require.NoError(t, os.WriteFile("compose.yaml", stdout.Bytes(), 0o644))
	}
	committed, err := os.ReadFile("compose.yaml")
	require.NoError(t, err)
	assert.Equal(t, stdout.String(), string(committed), "compose.yaml is stale: go test ./examples -run Compose -update")

	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  ".",
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: committed}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("tend-example", true) })
	require.NoError(t, err)
	require.Len(t, project.Services, 3)
	gpus := map[string]string{}
	for name, svc := range project.Services {
		assert.Equal(t, "my-pytorch-tend:latest", svc.Image)
		require.NotNil(t, svc.Deploy, name)
		for _, d := range svc.Deploy.Resources.Reservations.Devices {
			for _, id := range d.IDs {
				assert.NotContains(t, gpus, id, "GPU %s given to %s and %s", id, gpus[id], name)
				gpus[id] = name
			}
		}
	}
	assert.Len(t, gpus, 4, "all four GPUs are used")
}

// The part of the Kubernetes Pod schema the example uses: decoding with
// known fields only catches a misspelt or misplaced key.
type (
	pod struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   map[string]any `yaml:"metadata"`
		Spec       podSpec        `yaml:"spec"`
	}
	podSpec struct {
		ShareProcessNamespace bool           `yaml:"shareProcessNamespace"`
		SecurityContext       map[string]int `yaml:"securityContext"`
		InitContainers        []container    `yaml:"initContainers"`
		Containers            []container    `yaml:"containers"`
		Volumes               []volume       `yaml:"volumes"`
	}
	container struct {
		Name           string           `yaml:"name"`
		Image          string           `yaml:"image"`
		Command        []string         `yaml:"command"`
		Args           []string         `yaml:"args"`
		Env            []envVar         `yaml:"env"`
		Ports          []map[string]any `yaml:"ports"`
		Resources      resources        `yaml:"resources"`
		StartupProbe   *probe           `yaml:"startupProbe"`
		ReadinessProbe *probe           `yaml:"readinessProbe"`
		LivenessProbe  *probe           `yaml:"livenessProbe"`
		VolumeMounts   []volumeMount    `yaml:"volumeMounts"`
	}
	envVar struct {
		Name      string         `yaml:"name"`
		Value     string         `yaml:"value"`
		ValueFrom map[string]any `yaml:"valueFrom"`
	}
	resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	}
	probe struct {
		Exec struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		TimeoutSeconds   int `yaml:"timeoutSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	}
	volumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}
	volume struct {
		Name                  string            `yaml:"name"`
		EmptyDir              map[string]string `yaml:"emptyDir"`
		PersistentVolumeClaim map[string]string `yaml:"persistentVolumeClaim"`
	}
)

func TestPodManifest(t *testing.T) {
	data, err := os.ReadFile("k8s/pod.yaml")
	require.NoError(t, err)
	var p pod
	require.NoError(t, yaml.Load(data, &p, yaml.WithKnownFields()))
	assert.Equal(t, "v1", p.APIVersion)
	assert.Equal(t, "Pod", p.Kind)

	volumes := map[string]bool{}
	for _, v := range p.Spec.Volumes {
		volumes[v.Name] = true
	}
	byName := map[string]container{}
	for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		byName[c.Name] = c
		for _, m := range c.VolumeMounts {
			assert.True(t, volumes[m.Name], "%s mounts the undeclared volume %s", c.Name, m.Name)
		}
	}
	init := byName["tend-sweep"]
	assert.Equal(t, []string{"tend-cron", "--config", "/etc/tend/tend.yaml", "--once", "--only", "sweep"}, init.Command)
	assert.Contains(t, byName["tend-cron"].Command[0], "tend-cron")
	assert.NotContains(t, byName["tend-cron"].Command, "--once", "the sidecar runs the schedules")

	jupyter := byName["jupyter"]
	for profile, pr := range map[string]*probe{"startup": jupyter.StartupProbe, "readiness": jupyter.ReadinessProbe, "liveness": jupyter.LivenessProbe} {
		require.NotNil(t, pr, profile)
		assert.Equal(t, []string{"tend-health", "--config", "/etc/tend/tend.yaml", "--profile", profile}, pr.Exec.Command)
		assert.Greater(t, pr.TimeoutSeconds, 10, "%s: tend-health's own deadline (10s) fits in the probe's", profile)
	}
	assert.Equal(t, "1", jupyter.Resources.Limits["nvidia.com/gpu"], "GPUs go in limits")
	assert.NotContains(t, jupyter.Resources.Requests, "nvidia.com/gpu")
}

// TestPodCommandsRun runs each command of the Pod with the real tend-cron
// and tend-health, on examples/tend.yaml in place of the mounted
// /etc/tend/tend.yaml: a misspelt flag or a bad profile is a usage error
// (exit 2) and fails the test. The probes may find the host unhealthy (no
// GPU here), never misused; the initContainer runs as a dry run (it would
// sweep this machine's /tmp otherwise) and the sidecar until SIGTERM.
func TestPodCommandsRun(t *testing.T) {
	testenv.Short(t)
	data, err := os.ReadFile("k8s/pod.yaml")
	require.NoError(t, err)
	var p pod
	require.NoError(t, yaml.Load(data, &p, yaml.WithKnownFields()))
	bin := t.TempDir()
	goBuild(t, "./adapters/tend-cron", filepath.Join(bin, "tend-cron"))
	goBuild(t, "./adapters/tend-health", filepath.Join(bin, "tend-health"))
	// A home outside /tmp: tend refuses to sweep a root holding $HOME.
	home, err := os.MkdirTemp("/var/tmp", "tend-examples-home-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	local := func(argv []string) *exec.Cmd {
		args := slices.Clone(argv[1:])
		for i, a := range args {
			if a == "/etc/tend/tend.yaml" {
				args[i] = "tend.yaml"
			}
		}
		cmd := exec.Command(filepath.Join(bin, argv[0]), args...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
		return cmd
	}
	var jupyter container
	for _, c := range p.Spec.Containers {
		if c.Name == "jupyter" {
			jupyter = c
		}
	}
	for profile, pr := range map[string]*probe{"startup": jupyter.StartupProbe, "readiness": jupyter.ReadinessProbe, "liveness": jupyter.LivenessProbe} {
		require.NotNil(t, pr, profile)
		out, err := local(pr.Exec.Command).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		assert.Contains(t, []int{0, 1}, code, "%s probe %v: %s", profile, pr.Exec.Command, out)
		assert.Regexp(t, `(?m)^(healthy|unhealthy)\b.*\(`+profile+` `, string(out), "%s probe: the profile ran", profile)
	}

	init := p.Spec.InitContainers[0]
	out, err := local(append(init.Command, "--dry-run")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "tend-cron dry run of tend.yaml")
	assert.Contains(t, string(out), filepath.Join(home, ".cache/huggingface/hub")+": missing, skipped")

	for _, c := range p.Spec.Containers {
		if c.Name != "tend-cron" {
			continue
		}
		metrics := t.TempDir()
		argv := slices.Clone(c.Command)
		for i, a := range argv {
			if a == "/metrics/tend.prom" {
				argv[i] = filepath.Join(metrics, "tend.prom")
			}
		}
		cmd := local(argv)
		for _, e := range c.Env {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
		var stderr syncBuffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stderr.String(), `msg=scheduled task=rotate`) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, cmd.Wait(), "the sidecar exits 0 on SIGTERM: %s", stderr.String())
		assert.Contains(t, stderr.String(), `msg=scheduled task=sweep schedule="30 3 * * *"`)
	}
}

// syncBuffer is safe for a process's writer goroutines.
type syncBuffer = testenv.Buffer

// TestDockerfile builds the Dockerfile's "prebuilt" target on a base made
// here from busybox-static (no registry needed), with tend-cron and
// tend-health built on the host, then runs the image: the entrypoint wraps
// the command and returns its status, and tend-cron reads the image's
// config as the image's non-root user.
func TestDockerfile(t *testing.T) {
	testenv.Short(t)
	dockerBin := testenv.Docker(t)
	busybox := testenv.LookPath(t, "busybox", "busybox-static")
	id := randomID(t)
	base, image := "tend-test-examples-base-"+id, "tend-test-examples-"+id

	// A base with a shell, a passwd file and a root-owned /tmp, as the
	// PyTorch images have.
	rootfs := t.TempDir()
	for _, d := range []string{"bin", "etc", "home", "tmp", "root"} {
		require.NoError(t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	require.NoError(t, os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777))
	bb, err := os.ReadFile(busybox)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755))
	for _, applet := range []string{"sh", "id", "mkdir", "chown", "echo", "cat", "ls", "true"} {
		require.NoError(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)))
	}
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\n"), 0o644))
	tarCmd := exec.Command("tar", "-C", rootfs, "-c", ".")
	importCmd := exec.Command(dockerBin, "import", "--change", "ENV PATH=/usr/local/bin:/bin", "--change", "LABEL tend.test=examples", "-", base)
	importCmd.Stdin, err = tarCmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, tarCmd.Start())
	out, err := importCmd.CombinedOutput()
	require.NoError(t, err, "docker import: %s", out)
	require.NoError(t, tarCmd.Wait())
	t.Cleanup(func() { docker(t, dockerBin, "rmi", "-f", base) })

	// The build context: the Dockerfile's COPY sources only.
	ctxDir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(ctxDir, "examples"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(ctxDir, "bin"), 0o755))
	for _, f := range []string{"Dockerfile", "tend.yaml"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(ctxDir, "examples", f), b, 0o644))
	}
	goBuild(t, "./adapters/tend-cron", filepath.Join(ctxDir, "bin", "tend-cron"))
	goBuild(t, "./adapters/tend-health", filepath.Join(ctxDir, "bin", "tend-health"))
	out2 := mustDocker(t, dockerBin, "build", "-q", "--label", "tend.test=examples", "-f", filepath.Join(ctxDir, "examples", "Dockerfile"),
		"--target", "prebuilt", "--build-arg", "BASE_IMAGE="+base, "--build-arg", "PIP_INSTALL=", "-t", image, ctxDir)
	t.Cleanup(func() { docker(t, dockerBin, "rmi", "-f", image) })
	require.NotEmpty(t, out2)

	inspect := mustDocker(t, dockerBin, "inspect", "--format",
		"{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{json .Config.Healthcheck.Test}} {{.Config.User}}", image)
	assert.Equal(t, `["tend-cron","--config","/etc/tend/tend.yaml","--jitter","10m","--"] `+
		`["jupyter","lab","--ip=0.0.0.0","--port=8888","--no-browser","--ServerApp.root_dir=/workspace"] `+
		`["CMD","tend-health","--config","/etc/tend/tend.yaml","--profile","readiness"] jupyter`, inspect)

	// The entrypoint wraps any command and exits with its status.
	name := "tend-test-examples-" + randomID(t)
	docker(t, dockerBin, "run", "--label", "tend.test=examples", "--name", name, image, "sh", "-c", "id -u; exit 3")
	t.Cleanup(func() { docker(t, dockerBin, "rm", "-f", name) })
	assert.Equal(t, "3", mustDocker(t, dockerBin, "wait", name))
	logs := mustDocker(t, dockerBin, "logs", name)
	assert.Contains(t, logs, "1000", "the command runs as the image's user")
	assert.Contains(t, logs, `msg=stopped exit=3`)

	// tend-cron reads the image's config as that user; tend-health runs.
	plan, err := docker(t, dockerBin, "run", "--rm", "--label", "tend.test=examples", "--entrypoint", "tend-cron", image,
		"--config", "/etc/tend/tend.yaml", "--once", "--dry-run")
	assert.Contains(t, plan, "tend-cron dry run of /etc/tend/tend.yaml", "%v", err)
	assert.Contains(t, plan, "/home/jupyter/.cache/huggingface/hub: missing, skipped")
	assert.Contains(t, mustDocker(t, dockerBin, "run", "--rm", "--entrypoint", "tend-health", image, "--version"), "tend-health")

	// The HEALTHCHECK command runs in the image: healthy or not (this base
	// has no GPU, torch or Jupyter), never a usage or config error.
	health := append([]string{"run", "--rm", "--label", "tend.test=examples", "--entrypoint", "tend-health", image},
		"--config", "/etc/tend/tend.yaml", "--profile", "readiness")
	out, err = exec.Command(dockerBin, health...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	assert.Contains(t, []int{0, 1}, code, "%s", out)
	assert.Regexp(t, `(?m)^(healthy|unhealthy)\b.*\(readiness `, string(out))
	assert.Contains(t, string(out), "disk /dev/shm", "the image's config was read (the default has no /dev/shm check)")
}

var docker, mustDocker = testenv.RunDocker, testenv.MustDocker

func randomID(t *testing.T) string {
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
