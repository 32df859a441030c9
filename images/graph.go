package images

import (
	"cmp"
	"fmt"
	"slices"
)

// graph is the parent/child relation of the listed images. The classic
// builder and docker commit record each image's parent; the engine refuses
// to remove an image that has children (by ID: a conflict; by its last tag:
// it only untags it), and removing a child also removes its untagged
// parents that have no other child (the intermediate build images).
type graph struct {
	imgs     []Image
	byID     map[string]int
	children map[string][]int
	used     map[string]bool // images a container uses
}

func newGraph(imgs []Image, ctrs []Container) *graph {
	g := &graph{imgs: imgs, byID: make(map[string]int, len(imgs)), children: map[string][]int{}, used: map[string]bool{}}
	for _, c := range ctrs {
		g.used[c.ImageID] = true
	}
	for i, im := range imgs {
		g.byID[im.ID] = i
	}
	for i, im := range imgs {
		if _, ok := g.byID[im.ParentID]; ok && im.ParentID != "" {
			g.children[im.ParentID] = append(g.children[im.ParentID], i)
		}
	}
	return g
}

// intermediate reports whether im is an untagged image with children and
// no container, which `docker images` hides and which goes with its last
// child. One a container uses stays, holding its layers: it is planned as a
// top-level image (and kept, as in use).
func (g *graph) intermediate(im Image) bool {
	return im.Dangling() && len(g.children[im.ID]) > 0 && !g.used[im.ID]
}

// top returns the images that are not intermediate, as a new slice.
func (g *graph) top() []Image {
	out := make([]Image, 0, len(g.imgs))
	for _, im := range g.imgs {
		if !g.intermediate(im) {
			out = append(out, im)
		}
	}
	return out
}

// chains keeps the candidates that have a child which stays (a kept or
// unselected image, or an intermediate image a container uses), since the
// engine would refuse them, and orders the rest so that each image comes
// after every candidate built on it, otherwise least recently used first.
func (p *ImagePruner) chains(plan *Plan, g *graph, cands []Removal, users map[string][]Container) []Removal {
	if len(g.children) == 0 {
		return cands
	}
	isCand := make(map[string]int, len(cands))
	for i, c := range cands {
		isCand[c.ID] = i
	}
	// blocker returns the first descendant of id that stays ("" if none),
	// memoized so that the whole walk is linear in the images.
	memo := map[string]string{}
	var blocker func(id string) string
	blocker = func(id string) string {
		if b, ok := memo[id]; ok {
			return b
		}
		memo[id] = "" // a cycle (impossible in a real engine) ends here
		b := ""
		for _, ci := range g.children[id] {
			ch := g.imgs[ci]
			_, cand := isCand[ch.ID]
			switch {
			case !cand && !g.intermediate(ch):
				b = describe(ch, users[ch.ID])
			default:
				b = blocker(ch.ID)
			}
			if b != "" {
				break
			}
		}
		memo[id] = b
		return b
	}
	// last returns the largest candidate index among id's descendants and
	// itself; depth the number of its ancestors.
	lastMemo := map[string]int{}
	var last func(id string) int
	last = func(id string) int {
		if v, ok := lastMemo[id]; ok {
			return v
		}
		lastMemo[id] = -1
		v := -1
		if i, ok := isCand[id]; ok {
			v = i
		}
		for _, ci := range g.children[id] {
			v = max(v, last(g.imgs[ci].ID))
		}
		lastMemo[id] = v
		return v
	}
	depth := func(id string) int {
		d := 0
		for i, ok := g.byID[id]; ok && d <= len(g.imgs); i, ok = g.byID[g.imgs[i].ParentID] {
			d++
		}
		return d
	}
	type ordered struct {
		r          Removal
		key, depth int
	}
	var keep []ordered
	for _, c := range cands {
		if b := blocker(c.ID); b != "" {
			plan.Kept = append(plan.Kept, Kept{ID: c.ID, RepoTags: c.RepoTags, LastUsed: c.LastUsed, Code: KeepReasonParent,
				Reason: fmt.Sprintf("parent of %s, which stays", b)})
			continue
		}
		keep = append(keep, ordered{r: c, key: last(c.ID), depth: depth(c.ID)})
	}
	slices.SortStableFunc(keep, func(a, b ordered) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(b.depth, a.depth)) })
	out := make([]Removal, len(keep))
	for i, o := range keep {
		out[i] = o.r
	}
	return out
}

// describe names an image for a reason: its first tag, or its short ID.
func describe(im Image, users []Container) string {
	name := shortID(im.ID)
	if len(im.RepoTags) > 0 {
		name = im.RepoTags[0]
	}
	if len(users) > 0 {
		name += " (" + inUse(users) + ")"
	}
	return name
}
