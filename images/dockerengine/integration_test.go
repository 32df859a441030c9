package dockerengine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
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

// realSet builds a run's images on the real engine and removes them (and
// its containers) when the test ends.
func realSet(t *testing.T) (*imagestest.Docker, context.Context) {
	t.Helper()
	cli := testenv.Docker(t)
	testenv.LookPath(t, "busybox", "busybox-static")
	testenv.Short(t)
	d := imagestest.NewDocker(cli, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(func() {
		defer cancel()
		if err := d.Cleanup(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return d, ctx
}

func build(t *testing.T, ctx context.Context, d *imagestest.Docker, size int, seed uint64, tags ...string) string {
	t.Helper()
	id, err := d.Build(ctx, size, seed, tags...)
	require.NoError(t, err)
	return id
}

func newEngine(t *testing.T) *dockerengine.Engine {
	t.Helper()
	e, err := dockerengine.New(dockerengine.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// dfUnique returns `docker system df -v`'s unique size of each image.
func dfUnique(t *testing.T, ctx context.Context, d *imagestest.Docker) map[string]int64 {
	t.Helper()
	out, err := d.Exec(ctx, "system", "df", "-v", "--format", "{{json .Images}}")
	require.NoError(t, err)
	var list []struct{ ID, UniqueSize string }
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	m := map[string]int64{}
	for _, im := range list {
		m[im.ID] = humanBytes(t, im.UniqueSize)
	}
	return m
}

var human = regexp.MustCompile(`^([0-9.]+)([kMGT]?B)$`)

// humanBytes parses the docker CLI's sizes ("921.6kB": 4 significant
// digits, decimal units).
func humanBytes(t *testing.T, s string) int64 {
	t.Helper()
	m := human.FindStringSubmatch(s)
	require.NotNil(t, m, "docker size %q", s)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return int64(v * map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[m[2]])
}

// present returns the run's image IDs as `docker images` lists them.
func present(t *testing.T, ctx context.Context, d *imagestest.Docker) map[string]bool {
	t.Helper()
	out, err := d.Exec(ctx, "images", "-q", "--no-trunc", "--filter", "label="+d.Label())
	require.NoError(t, err)
	m := map[string]bool{}
	for _, id := range strings.Fields(out) {
		m[id] = true
	}
	return m
}

func within1pc(t *testing.T, want, got int64, msg string) {
	t.Helper()
	assert.InDelta(t, float64(want), float64(got), 0.01*float64(want)+1, msg)
}

func TestPruneRealEngine(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("pytorch")
	old := build(t, ctx, d, 300<<10, 1, repo+":2.5-cuda11.8")
	multi := build(t, ctx, d, 400<<10, 2, repo+":2.6-cuda11.8", d.Repo("pytorch-train")+":2.6")
	stopped := build(t, ctx, d, 500<<10, 3, repo+":2.7-cuda11.8")
	running := build(t, ctx, d, 600<<10, 4, repo+":2.8-cuda12.8")
	stable := build(t, ctx, d, 700<<10, 5, repo+":stable")
	dangling := build(t, ctx, d, 800<<10, 6, repo+":tmp")
	race := build(t, ctx, d, 900<<10, 7, repo+":tmp") // takes the tag: the one before dangles
	_, err := d.Container(ctx, stopped, false)
	require.NoError(t, err)
	_, err = d.Container(ctx, running, true)
	require.NoError(t, err)

	e := newEngine(t)
	p := &images.ImagePruner{Engine: e, Policy: images.Policy{
		Match:       []string{"tendtest-" + d.Run + "/*"},
		Labels:      []string{d.Label()},
		Dangling:    true,
		ProtectTags: []string{"stable"},
	}}
	plan, err := p.Plan(ctx)
	require.NoError(t, err)
	var planned []string
	bytes := map[string]int64{}
	for _, r := range plan.Removals {
		planned = append(planned, r.ID)
		bytes[r.ID] = r.Bytes
	}
	assert.ElementsMatch(t, []string{old, multi, dangling, race}, planned)
	assert.Equal(t, 2, plan.Calls.Listing)

	// Race: a container from a planned image, created after the plan.
	_, err = d.Container(ctx, race, false)
	require.NoError(t, err)

	unique := dfUnique(t, ctx, d)
	rep, err := p.Apply(ctx, plan)
	require.NoError(t, err)
	require.Len(t, rep.Skipped, 1)
	assert.Equal(t, race, rep.Skipped[0].Removal.ID)
	assert.Contains(t, rep.Skipped[0].Note, "created since planning")

	left := present(t, ctx, d)
	for _, id := range []string{stopped, running, stable, race} {
		assert.True(t, left[id], "image %s must stay", id)
	}
	var want int64
	for _, id := range []string{old, multi, dangling} {
		assert.False(t, left[id], "image %s must be gone", id)
		within1pc(t, unique[id], bytes[id], "planned bytes of "+id+" vs docker system df unique size")
		want += unique[id]
	}
	within1pc(t, want, rep.FreedBytes, "freed bytes vs docker system df")
	within1pc(t, rep.PlannedBytes-bytes[race], rep.FreedBytes, "freed vs planned")
	out, err := d.Exec(ctx, "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "label="+d.Label())
	require.NoError(t, err)
	assert.NotContains(t, out, d.Repo("pytorch-train"), "both tags of the multi-tag image are gone")
}

var reclaimed = regexp.MustCompile(`Total reclaimed space: ([0-9.]+[kMGT]?B)`)

// TestDifferentialWithDockerPrune compares the plan with what
// `docker image prune -a --filter until=... --filter label=...` removes on
// the same set.
func TestDifferentialWithDockerPrune(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("pytorch")
	unused1 := build(t, ctx, d, 300<<10, 11, repo+":2.4-cuda11.8")
	unused2 := build(t, ctx, d, 350<<10, 12, repo+":2.5-cuda12.1")
	used := build(t, ctx, d, 400<<10, 13, repo+":2.7-cuda12.8")
	dangling := build(t, ctx, d, 450<<10, 14, repo+":tmp")
	build(t, ctx, d, 500<<10, 15, repo+":tmp")
	_, err := d.Container(ctx, used, false)
	require.NoError(t, err)
	newest := present(t, ctx, d)
	require.Len(t, newest, 5)

	// "until=T" removes unused images built before T; last use one hour
	// unused at a clock two hours ahead selects the same images.
	later := time.Now().Add(2 * time.Hour)
	p := &images.ImagePruner{Engine: newEngine(t), Now: func() time.Time { return later }, Policy: images.Policy{
		Match: []string{"tendtest-" + d.Run + "/*"}, Labels: []string{d.Label()}, Dangling: true, UnusedFor: time.Hour}}
	plan, err := p.Plan(ctx)
	require.NoError(t, err)
	var planned []string
	for _, r := range plan.Removals {
		planned = append(planned, r.ID)
	}
	assert.Contains(t, planned, unused1)
	assert.Contains(t, planned, unused2)
	assert.Contains(t, planned, dangling)

	out, err := d.Exec(ctx, "image", "prune", "-a", "-f", "--filter", "until="+later.Add(-time.Hour).Format(time.RFC3339),
		"--filter", "label="+d.Label())
	require.NoError(t, err)
	left := present(t, ctx, d)
	var pruned []string
	for id := range newest {
		if !left[id] {
			pruned = append(pruned, id)
		}
	}
	assert.ElementsMatch(t, pruned, planned, "tend's plan and docker image prune -a remove the same images")
	m := reclaimed.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	within1pc(t, plan.Bytes, humanBytes(t, m[1]), fmt.Sprintf("docker reclaimed %s, tend planned %d", m[1], plan.Bytes))
}

func TestDaemonDown(t *testing.T) {
	sock := "unix://" + t.TempDir() + "/no-docker.sock"
	e, err := dockerengine.New(dockerengine.Options{Host: sock})
	require.NoError(t, err)
	defer e.Close()
	_, err = (&images.ImagePruner{Engine: e, Policy: images.Policy{Match: []string{"*"}}}).Plan(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), sock)
	assert.Contains(t, err.Error(), "not reachable")

	t.Setenv("DOCKER_HOST", sock)
	e2, err := dockerengine.New(dockerengine.Options{})
	require.NoError(t, err)
	defer e2.Close()
	assert.Equal(t, sock, e2.Host(), "DOCKER_HOST is honoured")
}

// removingEngine removes one image with `docker rmi` just before the pruner
// inspects it, as another pruner or a user would between listing and
// inspection.
type removingEngine struct {
	*dockerengine.Engine
	t      *testing.T
	d      *imagestest.Docker
	victim string
}

func (r removingEngine) ImageDetail(ctx context.Context, img images.Image) (images.Detail, error) {
	if img.ID == r.victim {
		_, err := r.d.Exec(ctx, "rmi", r.victim)
		require.NoError(r.t, err)
	}
	return r.Engine.ImageDetail(ctx, img)
}

func TestImageRemovedDuringPlan(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("pytorch")
	keep := build(t, ctx, d, 300<<10, 21, repo+":2.5-cuda11.8")
	gone := build(t, ctx, d, 400<<10, 22, repo+":2.6-cuda11.8")
	p := &images.ImagePruner{Engine: removingEngine{newEngine(t), t, d, gone}, Policy: images.Policy{
		Match: []string{"tendtest-" + d.Run + "/*"}, Labels: []string{d.Label()}}}
	plan, err := p.Plan(ctx)
	require.NoError(t, err, "an image removed by another tool while planning is not an error")
	require.Len(t, plan.Removals, 1)
	assert.Equal(t, keep, plan.Removals[0].ID)
	rep, err := p.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Len(t, rep.Removed, 1)
	assert.Empty(t, present(t, ctx, d))
}
