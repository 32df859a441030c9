package dockerengine_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
)

// allImages returns the run's image IDs, intermediate ones included.
func allImages(t *testing.T, ctx context.Context, d *imagestest.Docker) map[string]bool {
	t.Helper()
	out, err := d.Exec(ctx, "images", "-a", "-q", "--no-trunc", "--filter", "label="+d.Label())
	require.NoError(t, err)
	m := map[string]bool{}
	for _, id := range strings.Fields(out) {
		m[id] = true
	}
	return m
}

// Classic-builder chains on the real engine: the dry run is the run. Two
// chains: base <- (child <- grandchild), base <- used, where a container
// uses "used"; and other <- otherChild, all unused. The plan keeps base as
// the parent of an image that stays, removes grandchild before child and
// otherChild before other, and the real run removes exactly the planned
// images, skipping none.
func TestChainsDryRunIsTheRun(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("chain")
	base := build(t, ctx, d, 200<<10, 31, repo+":base")
	child, err := d.BuildFrom(ctx, base, 100<<10, 32, repo+":child")
	require.NoError(t, err)
	grandchild, err := d.BuildFrom(ctx, child, 50<<10, 33, repo+":grandchild")
	require.NoError(t, err)
	used, err := d.BuildFrom(ctx, base, 60<<10, 34, repo+":used")
	require.NoError(t, err)
	other := build(t, ctx, d, 210<<10, 35, repo+":other", d.Repo("chain2")+":other")
	otherChild, err := d.BuildFrom(ctx, other, 70<<10, 36, repo+":other-child")
	require.NoError(t, err)
	_, err = d.Container(ctx, used, false)
	require.NoError(t, err)
	before := allImages(t, ctx, d)
	require.Greater(t, len(before), 6, "the classic builder left intermediate images")

	e := newEngine(t)
	p := &images.ImagePruner{Engine: e, Policy: images.Policy{Match: []string{"tendtest-" + d.Run + "/*"}, Labels: []string{d.Label()}}}
	plan, err := p.Plan(ctx)
	require.NoError(t, err)
	var planned []string
	for _, r := range plan.Removals {
		planned = append(planned, r.ID)
	}
	assert.ElementsMatch(t, []string{child, grandchild, other, otherChild}, planned)
	pos := func(id string) int { return slices.Index(planned, id) }
	assert.Less(t, pos(grandchild), pos(child), "a child goes before its parent")
	assert.Less(t, pos(otherChild), pos(other), "a child goes before its parent")
	kept := map[string]images.KeepReason{}
	for _, k := range plan.Kept {
		kept[k.ID] = k.Code
		if k.ID == base {
			assert.Contains(t, k.Reason, repo+":used")
		}
	}
	assert.Equal(t, map[string]images.KeepReason{base: images.KeepReasonParent, used: images.KeepReasonInUse}, kept)

	unique := dfUnique(t, ctx, d)
	var want int64
	for _, id := range planned {
		want += unique[id]
	}
	rep, err := p.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Empty(t, rep.Skipped, "nothing planned is refused by the engine")
	assert.Empty(t, rep.Failed)
	var removed []string
	for _, o := range rep.Removed {
		removed = append(removed, o.Removal.ID)
	}
	assert.Equal(t, planned, removed, "the real run removed the planned set, in the planned order")
	after := allImages(t, ctx, d)
	for _, id := range planned {
		assert.False(t, after[id], "planned image %s is gone", id)
	}
	for _, id := range []string{base, used} {
		assert.True(t, after[id], "kept image %s stays", id)
	}
	assert.Len(t, after, len(before)-len(planned)-3, "the intermediate images of the three removed builds went with them")
	within1pc(t, plan.Bytes, rep.FreedBytes, "freed vs planned bytes")
	// docker system df counts the unique size of each image alone; the
	// chain shares the parents' layers, so the planned total is larger.
	assert.GreaterOrEqual(t, plan.Bytes, want)
}

// The engine only untags an image with children when its last tag is
// removed by name; Remove restores the tags and reports a conflict.
func TestRemoveParentRestoresTags(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("parent")
	base := build(t, ctx, d, 100<<10, 41, repo+":a", repo+":b")
	_, err := d.BuildFrom(ctx, base, 10<<10, 42, repo+":child")
	require.NoError(t, err)
	e := newEngine(t)
	_, err = e.Remove(ctx, images.Image{ID: base, RepoTags: []string{repo + ":a", repo + ":b"}})
	assert.ErrorIs(t, err, images.ErrConflict)
	out, err := d.Exec(ctx, "image", "inspect", "--format", "{{json .RepoTags}}", base)
	require.NoError(t, err)
	assert.Contains(t, out, repo+":a")
	assert.Contains(t, out, repo+":b")
	_, err = e.Remove(ctx, images.Image{ID: base, RepoTags: []string{repo + ":a"}})
	assert.ErrorIs(t, err, images.ErrConflict, "by ID the engine refuses it")
}

// A container created from an untagged intermediate build image: the image
// stays (with its layers) when its child goes, and so does its parent; the
// bytes freed are the child's own, as planned.
func TestContainerOnIntermediateImage(t *testing.T) {
	d, ctx := realSet(t)
	repo := d.Repo("mid")
	base := build(t, ctx, d, 150<<10, 91, repo+":base")
	child, err := d.BuildFrom(ctx, base, 300<<10, 92, repo+":child")
	require.NoError(t, err)
	mid, err := d.Exec(ctx, "image", "inspect", "--format", "{{.Parent}}", child)
	require.NoError(t, err)
	require.NotEqual(t, base, mid, "the classic builder left an intermediate image")
	_, err = d.Container(ctx, mid, false)
	require.NoError(t, err)

	p := &images.ImagePruner{Engine: newEngine(t), Policy: images.Policy{Match: []string{"tendtest-" + d.Run + "/*"}, Labels: []string{d.Label()}, Dangling: true}}
	plan, err := p.Plan(ctx)
	require.NoError(t, err)
	require.Len(t, plan.Removals, 1)
	assert.Equal(t, child, plan.Removals[0].ID)
	kept := map[string]images.KeepReason{}
	for _, k := range plan.Kept {
		kept[k.ID] = k.Code
	}
	assert.Equal(t, map[string]images.KeepReason{base: images.KeepReasonParent, mid: images.KeepReasonInUse}, kept)
	rep, err := p.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Empty(t, rep.Skipped)
	require.Len(t, rep.Removed, 1)
	left := allImages(t, ctx, d)
	assert.True(t, left[mid] && left[base])
	assert.False(t, left[child])
	within1pc(t, plan.Bytes, rep.FreedBytes, "freed vs planned")
	assert.Less(t, plan.Bytes, int64(400<<10), "the child's own layer only (the LABEL step adds none)")
}
