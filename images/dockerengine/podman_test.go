package dockerengine_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/dockerengine"
	"github.com/tendkit/tend/images/imagestest"
	"github.com/tendkit/tend/internal/testenv"
)

// podmanService starts Debian's podman's Docker-compatible API on a socket
// of its own (vfs storage and runtime dirs in a temporary directory, so it
// shares nothing with the machine) and stops it when the test ends. It
// skips when podman is not installed, unless TEND_PODMAN=required.
func podmanService(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("TEND_PODMAN") == "required" {
			t.Fatal("podman not found in PATH (apt-get install podman)")
		}
		t.Skip("podman not found in PATH (apt-get install podman); set TEND_PODMAN=required to fail instead")
	}
	testenv.Short(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "podman.sock")
	cmd := exec.Command(bin, "--storage-driver", "vfs", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", filepath.Join(dir, "tmp"),
		"system", "service", "--time=0", "unix://"+sock)
	var logs testenv.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		// vfs layers are plain directories; some are read-only.
		exec.Command("chmod", "-R", "u+w", dir).Run()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman service did not start: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "unix://" + sock
}

// The pruner on Podman's Docker-compatible socket (API 1.41, SharedSize 0,
// parents without "sha256:", tags with their registry, no build cache
// endpoint): chains, in-use images, bytes, events.
func TestPodman(t *testing.T) {
	host := podmanService(t)
	cli := testenv.Docker(t) // the docker CLI drives Podman's socket
	testenv.LookPath(t, "busybox", "busybox-static")
	t.Setenv("DOCKER_HOST", host)
	d := imagestest.NewDocker(cli, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	repo := d.Repo("pytorch")
	id := func(s string) string { // Podman's build prints IDs without "sha256:"
		if !strings.HasPrefix(s, "sha256:") {
			return "sha256:" + s
		}
		return s
	}
	base := id(build(t, ctx, d, 200<<10, 81, repo+":base"))
	child, err := d.BuildFrom(ctx, base, 50<<10, 82, repo+":child")
	require.NoError(t, err)
	child = id(child)
	used := id(build(t, ctx, d, 220<<10, 83, repo+":used"))
	free := id(build(t, ctx, d, 230<<10, 84, repo+":free"))
	_, err = d.Container(ctx, used, false)
	require.NoError(t, err)

	e, err := dockerengine.New(dockerengine.Options{Host: host})
	require.NoError(t, err)
	defer e.Close()
	listed, err := e.Images(ctx)
	require.NoError(t, err)
	for _, im := range listed {
		assert.Equal(t, int64(-1), im.SharedSize, "Podman's SharedSize 0 is not trusted")
		if im.ID == child {
			assert.NotEmpty(t, im.ParentID)
			assert.Contains(t, im.ParentID, "sha256:")
		}
	}
	state := filepath.Join(t.TempDir(), "images.json")
	keep := int64(0)
	p := &images.ImagePruner{Engine: e, StateFile: state, Policy: images.Policy{
		Match: []string{"*tendtest-" + d.Run + "/*"}, Labels: []string{d.Label()}, BuildCacheKeep: &keep}}
	plan, err := p.Plan(ctx)
	require.NoError(t, err)
	var planned []string
	for _, r := range plan.Removals {
		planned = append(planned, r.ID)
	}
	assert.ElementsMatch(t, []string{free, child, base}, planned)
	assert.Less(t, indexOf(planned, child), indexOf(planned, base), "the child goes first")
	rep, err := p.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Empty(t, rep.Skipped)
	assert.Len(t, rep.Removed, 3)
	require.NotNil(t, rep.BuildCache)
	assert.Contains(t, rep.BuildCache.Note, "not supported", "Podman has no /build/prune")
	left := map[string]bool{}
	listed, err = e.Images(ctx)
	require.NoError(t, err)
	for _, im := range listed {
		left[im.ID] = true
	}
	assert.True(t, left[used])
	for _, id := range planned {
		assert.False(t, left[id], id)
	}
	// Podman's removal reply lists image IDs only, no layers: the freed
	// bytes cannot be read from it (Docker's can).
	t.Logf("podman: planned %d bytes, freed (from the reply) %d", rep.PlannedBytes, rep.FreedBytes)
	assert.Positive(t, rep.PlannedBytes)

	// Events: a re-tag moves last use (the state is warm after Apply).
	time.Sleep(2 * time.Second)
	p.Policy = images.Policy{Match: []string{"*tendtest-" + d.Run + "/*"}, Labels: []string{d.Label()}, UnusedFor: time.Second}
	_, err = d.Exec(ctx, "rm", "-f", mustOut(t, d, ctx, "ps", "-aq", "--filter", "label="+d.Label()))
	require.NoError(t, err)
	plan, err = p.Plan(ctx)
	require.NoError(t, err)
	require.Len(t, plan.Removals, 1, "used's container is gone and it was last used seconds ago")
	_, err = d.Exec(ctx, "tag", used, repo+":used")
	require.NoError(t, err)
	plan, err = p.Plan(ctx)
	require.NoError(t, err)
	require.NotNil(t, plan.Events)
	t.Logf("podman events replay: %+v", *plan.Events)
	assert.Empty(t, plan.Removals, "re-tagged just now")
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func mustOut(t *testing.T, d *imagestest.Docker, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := d.Exec(ctx, args...)
	require.NoError(t, err)
	return out
}
