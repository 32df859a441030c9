package images_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
)

// chain returns a classic-builder chain: base (tagged) <- intermediate
// (untagged) <- child (tagged), each adding a layer.
func chain(baseUsed, childUsed time.Time) (base, mid, child images.Image) {
	bl := imagestest.Chain(lay("os", 80*MiB), lay("base", 10*MiB))
	base = imagestest.Image([]string{"team/base:1"}, daysAgo(300), baseUsed, bl)
	mid = imagestest.Image(nil, daysAgo(200), time.Time{}, imagestest.Chain(lay("os", 80*MiB), lay("base", 10*MiB), lay("run", 5*MiB)))
	mid.ParentID = base.ID
	child = imagestest.Image([]string{"team/child:1"}, daysAgo(200), childUsed, imagestest.Chain(lay("os", 80*MiB), lay("base", 10*MiB), lay("run", 5*MiB), lay("copy", 1*MiB)))
	child.ParentID = mid.ID
	return base, mid, child
}

func TestParentChildChains(t *testing.T) {
	tests := []struct {
		name       string
		match      []string
		childInUse bool
		wantRemove []string
		wantKept   map[string]images.KeepReason
		wantBytes  int64
	}{
		{"both go, the child first although the parent is older", []string{"team/*"}, false,
			[]string{"team/child:1", "team/base:1"}, map[string]images.KeepReason{}, 96 * MiB},
		{"a child in use keeps its parent", []string{"team/*"}, true,
			nil, map[string]images.KeepReason{"team/child:1": images.KeepReasonInUse, "team/base:1": images.KeepReasonParent}, 0},
		{"an unselected child keeps its parent", []string{"team/base*"}, false,
			nil, map[string]images.KeepReason{"team/base:1": images.KeepReasonParent}, 0},
		{"the child alone", []string{"team/child*"}, false,
			[]string{"team/child:1"}, map[string]images.KeepReason{}, 6 * MiB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, mid, child := chain(daysAgo(200), daysAgo(100))
			set := imagestest.Set{Images: []images.Image{base, mid, child}}
			if tc.childInUse {
				set.Containers = []images.Container{{ID: "c", Name: "job", ImageID: child.ID, Created: daysAgo(100)}}
			}
			e := imagestest.New(set)
			before := e.LayerBytes()
			p := pruner(e, images.Policy{Match: tc.match})
			plan, err := p.Plan(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tc.wantRemove, ids(plan.Removals))
			assert.Equal(t, 2, plan.Images, "the intermediate image is not counted")
			kept := map[string]images.KeepReason{}
			for _, k := range plan.Kept {
				kept[k.RepoTags[0]] = k.Code
				if k.Code == images.KeepReasonParent {
					assert.Contains(t, k.Reason, "parent of team/child:1")
				}
			}
			assert.Equal(t, tc.wantKept, kept)
			assert.Equal(t, tc.wantBytes, plan.Bytes)
			rep, err := p.Apply(context.Background(), plan)
			require.NoError(t, err)
			assert.Empty(t, rep.Skipped, "the dry run is the run")
			assert.Len(t, rep.Removed, len(tc.wantRemove))
			assert.Equal(t, plan.Bytes, rep.FreedBytes)
			assert.Equal(t, plan.Bytes, before-e.LayerBytes())
			if len(tc.wantRemove) > 0 {
				assert.False(t, e.HasImage(mid.ID), "the intermediate image went with its child")
			}
		})
	}
}

// The fake refuses a parent with children, as Docker does: without the
// ordering the real run would skip what the dry run planned.
func TestFakeRefusesParentWithChildren(t *testing.T) {
	base, mid, child := chain(daysAgo(200), daysAgo(100))
	e := imagestest.New(imagestest.Set{Images: []images.Image{base, mid, child}})
	_, err := e.Remove(context.Background(), base)
	assert.ErrorIs(t, err, images.ErrConflict)
	assert.ErrorContains(t, err, "dependent child images")
}

// A re-tag or pull with the same tag changes nothing in the listing; the
// engine's events since the last run move the image's last use, even with
// a warm state file. A new tag changes the cache key: the image is
// inspected afresh.
func TestRetagMovesLastUseWithWarmState(t *testing.T) {
	im := imagestest.Image([]string{"pytorch/pytorch:2.7"}, daysAgo(300), daysAgo(60), cuda("x", MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{im}})
	e.OmitLayers = true
	p := &images.ImagePruner{Engine: e, Policy: images.Policy{Match: []string{"*"}, UnusedFor: 30 * 24 * time.Hour},
		StateFile: filepath.Join(t.TempDir(), "state.json")}
	p.Policy.Match = []string{"nothing"}
	_, err := p.Prune(context.Background()) // warm the state: detail and event cursor
	require.NoError(t, err)
	p.Policy.Match = []string{"*"}
	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	require.Len(t, plan.Removals, 1, "60 days unused")
	assert.Zero(t, plan.Calls.Detail, "warm")

	retag := time.Now()
	e.Emit(images.Event{Time: retag, Type: images.EventTypeImage, Action: "tag", Ref: "pytorch/pytorch:2.7", ImageID: im.ID})
	plan, err = p.Plan(context.Background())
	require.NoError(t, err)
	assert.Empty(t, plan.Removals, "re-tagged just now")
	require.Len(t, plan.Kept, 1)
	assert.Equal(t, images.KeepReasonRecentlyUsed, plan.Kept[0].Code)
	assert.Equal(t, 1, plan.Events.Used)
	assert.WithinDuration(t, retag, plan.Kept[0].LastUsed, time.Millisecond)

	// A second tag: the cache key changes and the image is inspected.
	im2 := im
	im2.RepoTags = []string{"pytorch/pytorch:2.7", "pytorch/pytorch:stable"}
	im2.LastTagTime = time.Now()
	e.AddImage(im2)
	plan, err = p.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, plan.Calls.Detail)
}

// When more events than the engine keeps happened since the last run, the
// plan says so and inspects every image again.
func TestEventsMayHaveBeenMissed(t *testing.T) {
	im := imagestest.Image([]string{"pytorch/pytorch:2.7"}, daysAgo(300), daysAgo(60), cuda("x", MiB))
	e := imagestest.New(imagestest.Set{Images: []images.Image{im}})
	e.OmitLayers = true
	p := &images.ImagePruner{Engine: e, Policy: images.Policy{}, StateFile: filepath.Join(t.TempDir(), "state.json")}
	_, err := p.Prune(context.Background())
	require.NoError(t, err)
	t0 := time.Now()
	for i := range 300 {
		e.Emit(images.Event{Time: t0.Add(time.Duration(i) * time.Millisecond), Type: "network", Action: "connect"})
	}
	plan, err := p.Plan(context.Background())
	require.NoError(t, err)
	require.NotNil(t, plan.Events)
	assert.True(t, plan.Events.MayHaveMissed)
	require.Len(t, plan.Warnings, 1)
	assert.Contains(t, plan.Warnings[0], "may have been missed")
	assert.Equal(t, 1, plan.Calls.Detail, "inspected afresh")
}
