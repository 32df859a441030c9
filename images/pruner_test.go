package images_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }

func lay(name string, size int64) imagestest.NamedLayer {
	return imagestest.NamedLayer{Name: name, Size: size}
}

const MiB = imagestest.MiB

func cuda(app string, appSize int64) []images.Layer {
	return imagestest.Chain(lay("ubuntu", 80*MiB), lay("cuda-11.8", 3000*MiB), lay(app, appSize))
}

func pruner(e images.Engine, p images.Policy) *images.ImagePruner {
	return &images.ImagePruner{Engine: e, Policy: p, Now: func() time.Time { return now }}
}

func ids(rs []images.Removal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.RepoTags...)
	}
	return out
}

func TestSharedBaseLayersCountOnce(t *testing.T) {
	a := imagestest.Image([]string{"pytorch/pytorch:2.5-cuda11.8"}, daysAgo(300), daysAgo(90), cuda("a", 10*MiB))
	b := imagestest.Image([]string{"pytorch/pytorch:2.6-cuda11.8"}, daysAgo(200), daysAgo(80), cuda("b", 20*MiB))
	c := imagestest.Image([]string{"pytorch/pytorch:2.7-cuda11.8"}, daysAgo(100), daysAgo(1), cuda("c", 30*MiB))
	tests := []struct {
		name      string
		policy    images.Policy
		want      []string
		wantBytes int64
	}{
		{"two of three: only their own layers", images.Policy{Match: []string{"*pytorch*"}, UnusedFor: 30 * 24 * time.Hour},
			[]string{"pytorch/pytorch:2.5-cuda11.8", "pytorch/pytorch:2.6-cuda11.8"}, 30 * MiB},
		{"all three: the base goes with the last", images.Policy{Match: []string{"pytorch/*"}},
			[]string{"pytorch/pytorch:2.5-cuda11.8", "pytorch/pytorch:2.6-cuda11.8", "pytorch/pytorch:2.7-cuda11.8"}, 3140 * MiB},
		{"no match", images.Policy{Match: []string{"nvcr.io/nvidia/*"}}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := imagestest.New(imagestest.Set{Images: []images.Image{a, b, c}})
			before := e.LayerBytes()
			p := pruner(e, tt.policy)
			plan, err := p.Plan(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(plan.Removals))
			assert.Equal(t, tt.wantBytes, plan.Bytes)
			rep, err := p.Apply(context.Background(), plan)
			require.NoError(t, err)
			assert.Equal(t, tt.wantBytes, rep.FreedBytes)
			assert.Equal(t, plan.Bytes, before-e.LayerBytes(), "planned bytes are what the engine lost")
		})
	}
}

func TestKeepLatestByLastUseNotBuildTime(t *testing.T) {
	// old build pulled yesterday: new to this host.
	pulled := imagestest.Image([]string{"pytorch/pytorch:1.13-cuda11.8"}, daysAgo(700), daysAgo(1), cuda("old", MiB))
	mid := imagestest.Image([]string{"pytorch/pytorch:2.6-cuda11.8"}, daysAgo(100), daysAgo(60), cuda("mid", MiB))
	recentBuild := imagestest.Image([]string{"pytorch/pytorch:2.7-cuda11.8"}, daysAgo(10), daysAgo(40), cuda("new", MiB))
	other := imagestest.Image([]string{"teamai/pytorch:1"}, daysAgo(100), daysAgo(100), cuda("t", MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{pulled, mid, recentBuild, other}})
	plan, err := pruner(e, images.Policy{Match: []string{"*pytorch*"}, KeepLatest: 2, KeepLatestBy: images.KeepLatestByUsed}).Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"pytorch/pytorch:2.6-cuda11.8"}, ids(plan.Removals))
	require.Len(t, plan.Kept, 3)
	for _, k := range plan.Kept {
		assert.Contains(t, k.Reason, "most recently used")
		assert.Equal(t, images.KeepReasonLatest, k.Code)
	}
}

// The case users reported: keep_latest 1 over 2.6 (used last week by a
// stopped container) and 2.8 (pulled last month, never run). By build time
// (the default) 2.8 stays as the latest and 2.6 as in use, and 2.5 goes; by
// last use 2.6 is the latest and 2.8 goes.
func TestKeepLatestDefaultIsBuildTime(t *testing.T) {
	v25 := imagestest.Image([]string{"pytorch/pytorch:2.5"}, daysAgo(400), daysAgo(300), cuda("2.5", MiB))
	v26 := imagestest.Image([]string{"pytorch/pytorch:2.6"}, daysAgo(200), daysAgo(150), cuda("2.6", MiB))
	v28 := imagestest.Image([]string{"pytorch/pytorch:2.8"}, daysAgo(60), daysAgo(30), cuda("2.8", MiB))
	set := imagestest.Set{Images: []images.Image{v25, v26, v28},
		Containers: []images.Container{{ID: "c", Name: "eval", ImageID: v26.ID, Created: daysAgo(7)}}}
	for _, tc := range []struct {
		by         images.KeepLatestBy
		remove     []string
		latestKept string
	}{
		{"", []string{"pytorch/pytorch:2.5"}, "pytorch/pytorch:2.8"},
		{images.KeepLatestByCreated, []string{"pytorch/pytorch:2.5"}, "pytorch/pytorch:2.8"},
		{images.KeepLatestByUsed, []string{"pytorch/pytorch:2.5", "pytorch/pytorch:2.8"}, ""},
	} {
		t.Run(string(tc.by), func(t *testing.T) {
			plan, err := pruner(imagestest.New(set), images.Policy{Match: []string{"*pytorch*"}, KeepLatest: 1, KeepLatestBy: tc.by}).Plan(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tc.remove, ids(plan.Removals))
			codes := map[string]images.KeepReason{}
			for _, k := range plan.Kept {
				codes[k.RepoTags[0]] = k.Code
			}
			if tc.latestKept != "" {
				assert.Equal(t, images.KeepReasonLatest, codes[tc.latestKept], codes)
			}
			// By last use, 2.6 is the latest too; being in use comes first.
			assert.Equal(t, images.KeepReasonInUse, codes["pytorch/pytorch:2.6"])
		})
	}
	assert.ErrorContains(t, images.Policy{KeepLatestBy: "newest"}.Validate(), `keep_latest_by: "newest"`)
}

func TestProtectedAndInUseStay(t *testing.T) {
	latest := imagestest.Image([]string{"pytorch/pytorch:latest"}, daysAgo(300), daysAgo(300), cuda("l", MiB))
	stable := imagestest.Image([]string{"nvcr.io/nvidia/pytorch:24.01-stable"}, daysAgo(300), daysAgo(300), cuda("s", MiB))
	labelled := imagestest.Image([]string{"pytorch/pytorch:keep"}, daysAgo(300), daysAgo(300), cuda("k", MiB))
	labelled.Labels = map[string]string{"tend.keep": "true"}
	stopped := imagestest.Image([]string{"pytorch/pytorch:stopped"}, daysAgo(300), daysAgo(300), cuda("st", MiB))
	running := imagestest.Image([]string{"pytorch/pytorch:running"}, daysAgo(300), daysAgo(300), cuda("r", MiB))
	free := imagestest.Image([]string{"pytorch/pytorch:free"}, daysAgo(300), daysAgo(300), cuda("f", MiB))
	e := imagestest.New(imagestest.Set{
		Images: []images.Image{latest, stable, labelled, stopped, running, free},
		Containers: []images.Container{
			{ID: "c1", Name: "old-job", ImageID: stopped.ID, Created: daysAgo(200)},
			{ID: "c2", Name: "jupyter", ImageID: running.ID, Created: daysAgo(200), Running: true},
		},
	})
	p := pruner(e, images.Policy{Match: []string{"*"}, ProtectTags: []string{"latest", "*-stable"}, ProtectLabels: []string{"tend.keep=true"}})
	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"pytorch/pytorch:free"}, ids(plan.Removals))
	reasons := map[string]string{}
	for _, k := range plan.Kept {
		reasons[k.RepoTags[0]] = k.Reason
	}
	assert.Equal(t, map[string]string{
		"pytorch/pytorch:latest":              "protected tag pytorch/pytorch:latest",
		"nvcr.io/nvidia/pytorch:24.01-stable": "protected tag nvcr.io/nvidia/pytorch:24.01-stable",
		"pytorch/pytorch:keep":                "protected label tend.keep=true",
		"pytorch/pytorch:stopped":             "in use by container old-job (stopped)",
		"pytorch/pytorch:running":             "in use by container jupyter (running)",
	}, reasons)
	_, err = p.Apply(context.Background(), plan)
	require.NoError(t, err)
	for _, im := range []images.Image{latest, stable, labelled, stopped, running} {
		assert.True(t, e.HasImage(im.ID), im.RepoTags)
	}
	assert.False(t, e.HasImage(free.ID))
}

func TestUnusedForCountsContainersAndState(t *testing.T) {
	im := imagestest.Image([]string{"pytorch/pytorch:2.7"}, daysAgo(300), daysAgo(300), cuda("x", MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{im},
		Containers: []images.Container{{ID: "c", ImageID: im.ID, Created: daysAgo(5)}}})
	state := filepath.Join(t.TempDir(), "images.json")
	p := pruner(e, images.Policy{Match: []string{"*"}, UnusedFor: 30 * 24 * time.Hour})
	p.StateFile = state
	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	assert.Empty(t, plan.Removals)
	assert.NoFileExists(t, state, "a dry run (a plan alone) writes nothing")
	_, err = p.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.FileExists(t, state, "a real run records what it saw")

	// The container is gone; the state file remembers its use 5 days ago.
	e2 := imagestest.New(imagestest.Set{Images: []images.Image{im}})
	p.Engine = e2
	plan, err = p.Plan(context.Background())
	require.NoError(t, err)
	assert.Empty(t, plan.Removals)
	require.Len(t, plan.Kept, 1)
	assert.Contains(t, plan.Kept[0].Reason, "within unused_for")

	// 26 days later it is 31 days unused.
	p.Now = func() time.Time { return now.Add(26 * 24 * time.Hour) }
	plan, err = p.Plan(context.Background())
	require.NoError(t, err)
	assert.Len(t, plan.Removals, 1)

	b, err := os.ReadFile(state)
	require.NoError(t, err)
	assert.True(t, json.Valid(b))
}

func TestStateFileSavesDetailCalls(t *testing.T) {
	set := imagestest.CUDASet(1, 50, 10, now)
	e := imagestest.New(set)
	e.OmitLayers = true
	p := pruner(e, images.Policy{Match: []string{"*pytorch*"}, KeepLatest: 1})
	p.StateFile = filepath.Join(t.TempDir(), "state.json")
	first, err := p.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, images.Calls{Listing: 2, Detail: 50}, first.Calls)
	again, err := p.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, images.Calls{Listing: 2, Detail: 50}, again.Calls, "a dry run saved nothing")
	p.Policy.Match = nil // a real run that removes nothing
	_, err = p.Prune(context.Background())
	require.NoError(t, err)
	p.Policy.Match = []string{"*pytorch*"}
	second, err := p.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, images.Calls{Listing: 2, Events: 1}, second.Calls, "steady state: the listings and the event replay")
	assert.Equal(t, first.Bytes, second.Bytes)
	assert.Equal(t, ids(first.Removals), ids(second.Removals))
}

func TestCorruptStateFileIsRebuilt(t *testing.T) {
	for name, content := range map[string]string{"not json": "{not json", "old version": `{"version":1,"images":{}}`, "null entry": `{"version":2,"images":{"x":null}}`} {
		t.Run(name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(state, []byte(content), 0o644))
			im := imagestest.Image([]string{"pytorch/pytorch:2.7"}, daysAgo(300), daysAgo(300), cuda("x", MiB))
			var logs strings.Builder
			p := pruner(imagestest.New(imagestest.Set{Images: []images.Image{im}}), images.Policy{Match: []string{"nothing"}})
			p.StateFile = state
			p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			plan, err := p.Plan(context.Background())
			require.NoError(t, err)
			if name == "null entry" {
				assert.Empty(t, plan.Warnings)
				return
			}
			require.Len(t, plan.Warnings, 1)
			assert.Contains(t, plan.Warnings[0], state)
			assert.Contains(t, plan.Warnings[0], "rebuilt")
			assert.Contains(t, logs.String(), "level=WARN")
			b, _ := os.ReadFile(state)
			assert.Equal(t, content, string(b), "the dry run left the file alone")
			_, err = p.Apply(context.Background(), plan)
			require.NoError(t, err)
			b, _ = os.ReadFile(state)
			assert.True(t, json.Valid(b), "a real run rewrote it: %s", b)
			assert.Contains(t, string(b), im.ID)
		})
	}
}

func TestDanglingWithinLabels(t *testing.T) {
	mine := imagestest.Image(nil, daysAgo(3), time.Time{}, cuda("d1", MiB))
	mine.Labels = map[string]string{"run": "42"}
	theirs := imagestest.Image([]string{"<none>:<none>"}, daysAgo(3), time.Time{}, cuda("d2", MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{mine, theirs}})
	plan, err := pruner(e, images.Policy{Dangling: true, Labels: []string{"run=42"}}).Plan(context.Background())
	require.NoError(t, err)
	require.Len(t, plan.Removals, 1)
	assert.Equal(t, mine.ID, plan.Removals[0].ID)
	assert.Equal(t, "dangling", plan.Removals[0].Reason)
}

func TestWatermarks(t *testing.T) {
	set := imagestest.Set{}
	for i, d := range []int{50, 40, 30, 20, 10} {
		set.Images = append(set.Images, imagestest.Image([]string{"pytorch/pytorch:" + string(rune('a'+i))},
			daysAgo(400), daysAgo(d), imagestest.Chain(lay("own"+string(rune('a'+i)), 100*MiB))))
	}
	tests := []struct {
		name     string
		baseUsed int64
		low      float64
		want     []string
	}{
		{"below high: nothing", 300 * MiB, 70, nil}, // 800/1000 = 80%
		{"above high: down below low, LRU first", 400 * MiB, 70, // 900/1000 = 90% -> need 900-700 = 200
			[]string{"pytorch/pytorch:a", "pytorch/pytorch:b"}},
		{"far above: everything selected", 400 * MiB, 10, []string{
			"pytorch/pytorch:a", "pytorch/pytorch:b", "pytorch/pytorch:c", "pytorch/pytorch:d", "pytorch/pytorch:e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := imagestest.New(set)
			e.Total, e.BaseUsed = 1000*MiB, tt.baseUsed
			p := pruner(e, images.Policy{Match: []string{"*"}, DiskHigh: 85, DiskLow: tt.low})
			plan, err := p.Plan(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(plan.Removals))
			require.NotNil(t, plan.Disk)
			assert.Equal(t, 1, plan.Calls.Usage)
			assert.Len(t, plan.Kept, 5-len(tt.want))
		})
	}
}

func TestContainerCreatedAfterPlanSurvives(t *testing.T) {
	a := imagestest.Image([]string{"pytorch/pytorch:a"}, daysAgo(300), daysAgo(300), cuda("a", MiB))
	b := imagestest.Image([]string{"pytorch/pytorch:b"}, daysAgo(300), daysAgo(299), cuda("b", MiB))
	c := imagestest.Image([]string{"pytorch/pytorch:c"}, daysAgo(300), daysAgo(298), cuda("c", MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{a, b, c}})
	p := pruner(e, images.Policy{Match: []string{"*"}})
	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	require.Len(t, plan.Removals, 3)

	// Before Apply: caught by the re-check.
	e.AddContainer(images.Container{ID: "new1", Name: "new-job", ImageID: a.ID, Created: now})
	// Between the re-check and the removal: refused by the engine.
	e.BeforeRemove = func(img images.Image) {
		if img.ID == b.ID {
			e.AddContainer(images.Container{ID: "new2", ImageID: b.ID, Created: now})
		}
	}
	rep, err := p.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.True(t, e.HasImage(a.ID))
	assert.True(t, e.HasImage(b.ID))
	assert.False(t, e.HasImage(c.ID))
	require.Len(t, rep.Skipped, 2)
	assert.Contains(t, rep.Skipped[0].Note, "in use by container new-job (stopped), created since planning")
	assert.Contains(t, rep.Skipped[1].Note, "conflict")
	require.Len(t, rep.Removed, 1)
	assert.Equal(t, plan.Bytes, rep.PlannedBytes)
	// Only c's own layer was freed: the base stays for a and b.
	assert.Equal(t, int64(MiB), rep.FreedBytes)
}

func TestBuildCache(t *testing.T) {
	keep := 10 * MiB
	e := imagestest.New(imagestest.Set{})
	e.BuildCache = 25 * MiB
	rep, err := pruner(e, images.Policy{BuildCacheKeep: &keep}).Prune(context.Background())
	require.NoError(t, err)
	assert.Equal(t, &images.BuildCacheResult{Keep: keep, Freed: 15 * MiB}, rep.BuildCache)

	podman := imagestest.New(imagestest.Set{})
	podman.NoBuildCache = true
	rep, err = pruner(podman, images.Policy{BuildCacheKeep: &keep}).Prune(context.Background())
	require.NoError(t, err, "a missing build cache endpoint is reported, not failed")
	assert.Contains(t, rep.BuildCache.Note, "not supported")
}

func TestBadPolicy(t *testing.T) {
	tests := []struct {
		policy images.Policy
		want   string
	}{
		{images.Policy{Match: []string{"pytorch/[unclosed"}}, `match[0]: bad glob "pytorch/[unclosed"`},
		{images.Policy{KeepLatest: -1}, "keep_latest: -1 is negative"},
		{images.Policy{DiskHigh: 80, DiskLow: 85}, "disk_low: 85% is above disk_high 80%"},
		{images.Policy{DiskHigh: 120}, "disk_high: 120% is not between"},
		{images.Policy{ProtectLabels: []string{"=x"}}, `protect_labels[0]: "=x"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := pruner(imagestest.New(imagestest.Set{}), tt.policy).Plan(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestPlanMatchesEngineOnRealisticSet(t *testing.T) {
	set := imagestest.CUDASet(7, 300, 100, now)
	e := imagestest.New(set)
	before := e.LayerBytes()
	p := pruner(e, images.Policy{Match: []string{"*pytorch*"}, KeepLatest: 2, UnusedFor: 14 * 24 * time.Hour})
	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, plan.Removals)
	rep, err := p.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.Equal(t, plan.Bytes, rep.FreedBytes)
	assert.Equal(t, plan.Bytes, before-e.LayerBytes())
	for _, c := range set.Containers {
		assert.True(t, e.HasImage(c.ImageID), "image of container %s", c.Name)
	}
}

func BenchmarkPlan1000Images500Containers(b *testing.B) {
	e := imagestest.New(imagestest.CUDASet(1, 1000, 500, now))
	p := pruner(e, images.Policy{Match: []string{"*pytorch*"}, KeepLatest: 2, UnusedFor: 30 * 24 * time.Hour,
		ProtectTags: []string{"latest"}})
	for b.Loop() {
		if _, err := p.Plan(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// An image that another tool removes between the listing and its
// inspection is left out of the plan; the rest is planned as usual.
func TestImageGoneBeforeInspection(t *testing.T) {
	a := imagestest.Image([]string{"pytorch/pytorch:2.5-cuda11.8"}, daysAgo(300), daysAgo(90), cuda("a", 10*MiB))
	b := imagestest.Image([]string{"pytorch/pytorch:2.6-cuda11.8"}, daysAgo(200), daysAgo(80), cuda("b", 20*MiB))
	c := imagestest.Image([]string{"pytorch/pytorch:2.7-cuda11.8"}, daysAgo(100), daysAgo(70), cuda("c", 30*MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{a, b, c}})
	e.OmitLayers = true
	e.BeforeDetail = func(img images.Image) {
		if img.ID == b.ID {
			_, err := e.Remove(context.Background(), img)
			require.NoError(t, err)
		}
	}
	plan, err := pruner(e, images.Policy{Match: []string{"*pytorch*"}}).Plan(context.Background())
	require.NoError(t, err, "a concurrent removal is not a planning error")
	assert.Equal(t, []string{"pytorch/pytorch:2.5-cuda11.8", "pytorch/pytorch:2.7-cuda11.8"}, ids(plan.Removals))
	assert.Equal(t, 2, plan.Images)
	assert.Equal(t, 3120*MiB, plan.Bytes, "the shared base is freed with the last remaining image")
}
