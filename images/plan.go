package images

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Plan is what a run will do: the ordered removals and the exact bytes they
// free. It is also the dry run's output.
type Plan struct {
	// Time is when the plan was made.
	Time time.Time `json:"time"`
	// Policy is the policy it follows.
	Policy Policy `json:"policy"`
	// Removals, least recently used first.
	Removals []Removal `json:"removals"`
	// Kept lists the selected images that stay, with the reason.
	Kept []Kept `json:"kept,omitempty"`
	// Bytes is what the removals free, from the layer graph.
	Bytes int64 `json:"bytes"`
	// Disk is the image file system's usage when watermarks are set.
	Disk *DiskPlan `json:"disk,omitempty"`
	// Images and Containers count what the engine listed (less images
	// removed by others before they could be inspected).
	Images     int `json:"images"`
	Containers int `json:"containers"`
	// Calls counts the engine requests the plan made.
	Calls Calls `json:"calls"`

	layers map[string]int64 // layer (or private image) ID -> size
	st     *state
}

// Calls counts engine requests by purpose.
type Calls struct {
	// Listing is the images and containers listing: always 2.
	Listing int `json:"listing"`
	// Detail is the requests for images whose layers or last tag time the
	// listing lacks and the state file does not hold (Docker: an inspect,
	// plus a history when the image has several layers that may be shared).
	Detail int `json:"detail"`
	// Usage is the disk usage requests (only with watermarks).
	Usage int `json:"usage"`
}

// Total returns all requests.
func (c Calls) Total() int { return c.Listing + c.Detail + c.Usage }

// Removal is one planned image removal.
type Removal struct {
	ID       string    `json:"id"`
	RepoTags []string  `json:"repo_tags,omitempty"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	// Size is the image's full size; Bytes what removing it frees after the
	// removals before it.
	Size  int64 `json:"size"`
	Bytes int64 `json:"bytes"`
	// Reason says why it goes.
	Reason string `json:"reason"`

	image Image
}

// Kept is a selected image that stays.
type Kept struct {
	ID       string    `json:"id"`
	RepoTags []string  `json:"repo_tags,omitempty"`
	LastUsed time.Time `json:"last_used"`
	Reason   string    `json:"reason"`
}

// DiskPlan is the watermark decision.
type DiskPlan struct {
	Usage
	Percent float64 `json:"percent"`
	High    float64 `json:"high"`
	Low     float64 `json:"low"`
	// Need is the bytes to free to get below Low (0 when not above High).
	Need int64 `json:"need"`
}

// Plan decides what to remove. It only reads the engine; it updates the
// state file with the last use and details it observed.
func (p *ImagePruner) Plan(ctx context.Context) (*Plan, error) {
	if err := p.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("images policy: %w", err)
	}
	if p.Engine == nil {
		return nil, fmt.Errorf("images: no engine")
	}
	now := p.now()
	st, err := loadState(p.StateFile)
	if err != nil {
		return nil, err
	}
	imgs, err := p.Engine.Images(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	ctrs, err := p.Engine.Containers(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	plan := &Plan{Time: now, Policy: p.Policy, Removals: []Removal{}, Containers: len(ctrs),
		Calls: Calls{Listing: 2}, layers: map[string]int64{}, st: st}
	listed := imgs
	imgs = imgs[:0:0]
	for _, im := range listed {
		err := p.fillDetail(ctx, st, &im, &plan.Calls)
		switch {
		case errors.Is(err, ErrNotFound):
			// Removed by someone else between listing and inspection: it
			// is no longer there to plan for.
			p.log().Info("image gone since listing", "id", shortID(im.ID), "tags", im.RepoTags)
			continue
		case err != nil:
			return nil, err
		}
		imgs = append(imgs, im)
	}
	plan.Images = len(imgs)
	users := map[string][]Container{}
	for _, c := range ctrs {
		users[c.ImageID] = append(users[c.ImageID], c)
	}
	lastUse := map[string]time.Time{}
	refs := map[string]int{}
	present := map[string]bool{}
	for _, im := range imgs {
		present[im.ID] = true
		lastUse[im.ID] = observeUse(st.entry(im.ID), im, users[im.ID], now)
		for _, l := range im.Layers {
			refs[l.ID]++
			plan.layers[l.ID] = l.Size
		}
	}
	for id := range st.Images {
		if !present[id] {
			delete(st.Images, id)
		}
	}
	cands := p.classify(plan, imgs, users, lastUse)
	if err := p.watermark(ctx, plan, cands, refs); err != nil {
		return nil, err
	}
	if err := st.save(p.StateFile); err != nil {
		return nil, err
	}
	return plan, nil
}

// fillDetail completes an image's layers and last tag time from the state
// file or the engine. An image whose detail has no layers is one private
// layer named after the image.
func (p *ImagePruner) fillDetail(ctx context.Context, st *state, im *Image, calls *Calls) error {
	if im.Layers == nil {
		d, ok := st.cachedDetail(*im)
		if !ok {
			var err error
			d, err = p.Engine.ImageDetail(ctx, *im)
			calls.Detail += d.Calls
			if err != nil {
				return fmt.Errorf("inspect image %s: %w", shortID(im.ID), err)
			}
			e := st.entry(im.ID)
			e.Tags = slices.Clone(im.RepoTags)
			e.Detail = &d
		}
		im.Layers, im.LastTagTime = d.Layers, d.LastTagTime
	}
	if im.Layers == nil {
		im.Layers = []Layer{{ID: im.ID, Size: im.Size}}
	}
	return nil
}

// observeUse returns the image's last use and records it in the state.
func observeUse(e *stateImage, im Image, users []Container, now time.Time) time.Time {
	lu := e.LastUsed
	if im.LastTagTime.After(lu) {
		lu = im.LastTagTime
	}
	for _, c := range users {
		t := c.Created
		if c.Running {
			t = now
		}
		if t.After(lu) {
			lu = t
		}
	}
	e.LastUsed = lu
	if lu.IsZero() {
		return im.Created
	}
	return lu
}

// classify sorts the selected images into kept (recorded in the plan) and
// candidates, returned least recently used first.
func (p *ImagePruner) classify(plan *Plan, imgs []Image, users map[string][]Container, lastUse map[string]time.Time) []Removal {
	pol := p.Policy
	var selected []Image
	for _, im := range imgs {
		if pol.inScope(im) && ((im.Dangling() && pol.Dangling) || (!im.Dangling() && pol.matches(im))) {
			selected = append(selected, im)
		}
	}
	recent := map[string]string{}
	if pol.KeepLatest > 0 {
		byRepo := map[string][]Image{}
		for _, im := range selected {
			for _, r := range repositories(im) {
				byRepo[r] = append(byRepo[r], im)
			}
		}
		for repo, list := range byRepo {
			slices.SortFunc(list, func(a, b Image) int { return newerFirst(a, b, lastUse) })
			for _, im := range list[:min(pol.KeepLatest, len(list))] {
				if _, ok := recent[im.ID]; !ok {
					recent[im.ID] = fmt.Sprintf("among the %d most recently used of %s", pol.KeepLatest, repo)
				}
			}
		}
	}
	var cands []Removal
	for _, im := range selected {
		lu := lastUse[im.ID]
		why := ""
		switch {
		case len(users[im.ID]) > 0:
			why = inUse(users[im.ID])
		case pol.protectedBy(im) != "":
			why = pol.protectedBy(im)
		case recent[im.ID] != "":
			why = recent[im.ID]
		case pol.UnusedFor > 0 && plan.Time.Sub(lu) < pol.UnusedFor:
			why = fmt.Sprintf("used %s ago, within unused_for %s", plan.Time.Sub(lu).Round(time.Second), pol.UnusedFor)
		}
		if why != "" {
			plan.Kept = append(plan.Kept, Kept{ID: im.ID, RepoTags: im.RepoTags, LastUsed: lu, Reason: why})
			continue
		}
		reason := "dangling"
		if !im.Dangling() {
			reason = "matched"
		}
		if pol.UnusedFor > 0 {
			reason += fmt.Sprintf(", unused for %s", plan.Time.Sub(lu).Round(time.Second))
		}
		cands = append(cands, Removal{ID: im.ID, RepoTags: im.RepoTags, Created: im.Created, LastUsed: lu, Size: im.Size, Reason: reason, image: im})
	}
	slices.SortFunc(cands, func(a, b Removal) int {
		return cmp.Or(a.LastUsed.Compare(b.LastUsed), a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return cands
}

// newerFirst orders images by last use, newest first, then build time.
func newerFirst(a, b Image, lastUse map[string]time.Time) int {
	return cmp.Or(lastUse[b.ID].Compare(lastUse[a.ID]), b.Created.Compare(a.Created), cmp.Compare(a.ID, b.ID))
}

func inUse(cs []Container) string {
	c := cs[0]
	state := "stopped"
	if c.Running {
		state = "running"
	}
	name := c.Name
	if name == "" {
		name = shortID(c.ID)
	}
	if len(cs) > 1 {
		return fmt.Sprintf("in use by container %s (%s) and %d more", name, state, len(cs)-1)
	}
	return fmt.Sprintf("in use by container %s (%s)", name, state)
}

// watermark applies the disk watermarks to the candidates and fills in the
// bytes each removal frees, in order.
func (p *ImagePruner) watermark(ctx context.Context, plan *Plan, cands []Removal, refs map[string]int) error {
	pol := p.Policy
	need := int64(-1) // no limit
	if pol.DiskHigh > 0 {
		u, err := p.Engine.Usage(ctx)
		plan.Calls.Usage += u.Calls
		if err != nil {
			return fmt.Errorf("image disk usage: %w", err)
		}
		low := pol.DiskLow
		if low == 0 {
			low = pol.DiskHigh
		}
		d := &DiskPlan{Usage: u, Percent: u.Percent(), High: pol.DiskHigh, Low: low}
		plan.Disk = d
		if d.Percent > pol.DiskHigh {
			d.Need = max(0, u.Used-int64(low/100*float64(u.Total)))
		}
		need = d.Need
	}
	for _, c := range cands {
		if need >= 0 && plan.Bytes >= need {
			why := fmt.Sprintf("disk %.1f%% is not above disk_high %v%%", plan.Disk.Percent, pol.DiskHigh)
			if need > 0 {
				why = fmt.Sprintf("disk below disk_low %v%% without it", plan.Disk.Low)
			}
			plan.Kept = append(plan.Kept, Kept{ID: c.ID, RepoTags: c.RepoTags, LastUsed: c.LastUsed, Reason: why})
			continue
		}
		for _, l := range c.image.Layers {
			refs[l.ID]--
			if refs[l.ID] == 0 {
				c.Bytes += l.Size
			}
		}
		plan.Bytes += c.Bytes
		plan.Removals = append(plan.Removals, c)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 19 && id[:7] == "sha256:" {
		return id[7:19]
	}
	return id
}
