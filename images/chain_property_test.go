package images_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/images"
	"github.com/tendkit/tend/images/imagestest"
)

// randomForest builds images in parent/child chains as the classic builder
// and docker commit make them: each image extends its parent's layers by
// one, some are untagged intermediates, some are used by containers.
func randomForest(r *rand.Rand, n int) imagestest.Set {
	var set imagestest.Set
	type node struct {
		im    images.Image
		names []imagestest.NamedLayer
	}
	var nodes []node
	for i := range n {
		var names []imagestest.NamedLayer
		parent := ""
		if len(nodes) > 0 && r.IntN(3) > 0 {
			p := nodes[r.IntN(len(nodes))]
			names = append(names, p.names...)
			parent = p.im.ID
		} else {
			names = append(names, imagestest.NamedLayer{Name: fmt.Sprintf("os-%d", r.IntN(3)), Size: 80 * MiB})
		}
		names = append(names, imagestest.NamedLayer{Name: fmt.Sprintf("step-%d", i), Size: int64(1+r.IntN(50)) * MiB})
		var tags []string
		if r.IntN(4) > 0 {
			tags = []string{fmt.Sprintf("team/app%d:%d", r.IntN(3), i)}
		}
		im := imagestest.Image(tags, daysAgo(400-i), daysAgo(r.IntN(200)), imagestest.Chain(names...))
		im.ParentID = parent
		nodes = append(nodes, node{im, names})
		set.Images = append(set.Images, im)
	}
	for i := range r.IntN(n/3 + 1) {
		im := set.Images[r.IntN(len(set.Images))]
		set.Containers = append(set.Containers, images.Container{ID: fmt.Sprintf("c%d", i), ImageID: im.ID, Created: daysAgo(r.IntN(300))})
	}
	return set
}

// Property: on random chains, whatever the policy selects, the real run on
// an engine that refuses parents before children (the fake, as Docker)
// removes exactly what the plan says, in its order, skipping nothing, and
// frees exactly the planned bytes; every image kept as a parent has a child
// that stays.
func TestChainsPropertyPlanIsRun(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 99))
		set := randomForest(r, 2+r.IntN(25))
		e := imagestest.New(set)
		before := e.LayerBytes()
		pol := images.Policy{Match: []string{"team/*"}, Dangling: r.IntN(2) == 0, KeepLatest: r.IntN(3)}
		if r.IntN(2) == 0 {
			pol.Match = []string{fmt.Sprintf("team/app%d*", r.IntN(3))}
		}
		if r.IntN(3) == 0 {
			pol.UnusedFor = 100 * 24 * 3600 * 1e9
		}
		p := pruner(e, pol)
		plan, err := p.Plan(context.Background())
		require.NoError(t, err, "seed %d", seed)
		rep, err := p.Apply(context.Background(), plan)
		require.NoError(t, err, "seed %d", seed)
		require.Empty(t, rep.Skipped, "seed %d: the real run refused a planned removal", seed)
		require.Len(t, rep.Removed, len(plan.Removals), "seed %d", seed)
		for i, o := range rep.Removed {
			require.Equal(t, plan.Removals[i].ID, o.Removal.ID, "seed %d", seed)
			require.False(t, e.HasImage(o.Removal.ID), "seed %d", seed)
		}
		require.Equal(t, plan.Bytes, rep.FreedBytes, "seed %d", seed)
		require.Equal(t, plan.Bytes, before-e.LayerBytes(), "seed %d", seed)
		for _, k := range plan.Kept {
			if k.Code != images.KeepReasonParent {
				continue
			}
			require.True(t, e.HasImage(k.ID), "seed %d", seed)
			_, err := e.Remove(context.Background(), images.Image{ID: k.ID})
			require.ErrorIs(t, err, images.ErrConflict, "seed %d: %s kept as a parent is removable", seed, k.RepoTags)
		}
	}
}
