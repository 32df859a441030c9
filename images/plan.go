package images

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tendkit/tend/units"
)

// Plan is what a run will do: the ordered removals and the exact bytes they
// free. It is also the dry run's output.
type Plan struct {
	// Time is when the plan was made.
	Time time.Time `json:"time"`
	// Policy is the policy it follows.
	Policy Policy `json:"policy"`
	// Removals, least recently used first, each image after the images
	// built on it (classic builder or commit), which the engine requires.
	Removals []Removal `json:"removals"`
	// Kept lists the selected images that stay, with the reason.
	Kept []Kept `json:"kept,omitempty"`
	// Bytes is what the removals free, from the layer graph.
	Bytes int64 `json:"bytes"`
	// Disk is the image file system's usage when watermarks are set.
	Disk *DiskPlan `json:"disk,omitempty"`
	// Images and Containers count what the engine listed: images are the
	// top-level ones (intermediate build images not counted), less images
	// removed by others before they could be inspected.
	Images     int `json:"images"`
	Containers int `json:"containers"`
	// Events is the replay of the engine events since the last run, when
	// the engine reports events and the state file has a cursor.
	Events *EventsReplay `json:"events,omitempty"`
	// Warnings are what the plan had to work around (a corrupt state file
	// rebuilt, engine events possibly missed).
	Warnings []string `json:"warnings,omitempty"`
	// Calls is a diagnostic: the Engine methods the plan called, by
	// purpose. It is not the number of HTTP requests (a Docker
	// ImageDetail is one or two; dockerengine.Engine.Requests counts those).
	Calls Calls `json:"calls"`

	layers map[string]int64 // layer (or private image) ID -> size
	st     *state
}

// Calls counts Engine method calls by purpose (a diagnostic).
type Calls struct {
	// Listing is the images and containers listing: always 2.
	Listing int `json:"listing"`
	// Detail is the ImageDetail calls, for images whose layers or last tag
	// time the listing lacks and the state file does not hold.
	Detail int `json:"detail"`
	// Usage is the disk usage calls (only with watermarks).
	Usage int `json:"usage"`
	// Events is the event replays (one, when the engine has events).
	Events int `json:"events"`
}

// Total returns all calls.
func (c Calls) Total() int { return c.Listing + c.Detail + c.Usage + c.Events }

// EventsReplay is what replaying the engine's events since the last run
// found.
type EventsReplay struct {
	// Since and Until bound the replay.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Used is the number of events that marked an image as used.
	Used int `json:"used"`
	// MayHaveMissed is set when the engine's buffer (Docker keeps its last
	// 256 events) rolled over since the last run: uses in between may be
	// unknown, and every image's last tag time is inspected afresh.
	MayHaveMissed bool `json:"may_have_missed,omitempty"`
}

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
	// Code is why, for programs; Reason says it in words.
	Code   KeepReason `json:"code"`
	Reason string     `json:"reason"`
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

// Plan decides what to remove. It only reads: the engine, and the state
// file, which it never writes (Apply does).
func (p *ImagePruner) Plan(ctx context.Context) (*Plan, error) {
	if err := p.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("images policy: %w", err)
	}
	if p.Engine == nil {
		return nil, fmt.Errorf("images: no engine")
	}
	now := p.now()
	st, warn, err := loadState(p.StateFile)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Time: now, Policy: p.Policy, Removals: []Removal{}, layers: map[string]int64{}, st: st}
	if warn != "" {
		p.log().Warn(warn)
		plan.Warnings = append(plan.Warnings, warn)
	}
	listed, err := p.Engine.Images(ctx)
	plan.Calls.Listing++
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	ctrs, err := p.Engine.Containers(ctx, "")
	plan.Calls.Listing++
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	plan.Containers = len(ctrs)
	if err := p.replay(ctx, plan); err != nil {
		return nil, err
	}
	g := newGraph(listed, ctrs)
	fresh := plan.Events != nil && plan.Events.MayHaveMissed
	imgs, err := p.fillDetails(ctx, st, g.top(), fresh, &plan.Calls)
	if err != nil {
		return nil, err
	}
	plan.Images = len(imgs)
	users := map[string][]Container{}
	for _, c := range ctrs {
		users[c.ImageID] = append(users[c.ImageID], c)
	}
	lastUse := map[string]time.Time{}
	refs := map[string]int{}
	for _, im := range imgs {
		lastUse[im.ID] = observeUse(st.entry(im.ID), im, users[im.ID], now)
		for _, l := range im.Layers {
			refs[l.ID]++
			plan.layers[l.ID] = l.Size
		}
	}
	for id := range st.Images {
		if _, ok := lastUse[id]; !ok {
			st.drop(id)
		}
	}
	cands := p.classify(plan, imgs, users, lastUse)
	cands = p.chains(plan, g, cands, users)
	if err := p.watermark(ctx, plan, cands, refs); err != nil {
		return nil, err
	}
	return plan, nil
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
	latest := p.latest(selected, lastUse)
	var cands []Removal
	for _, im := range selected {
		lu := lastUse[im.ID]
		var code KeepReason
		why := ""
		if len(users[im.ID]) > 0 {
			code, why = KeepReasonInUse, inUse(users[im.ID])
		} else if c, w := pol.protectedBy(im); c != "" {
			code, why = c, w
		} else if latest[im.ID] != "" {
			code, why = KeepReasonLatest, latest[im.ID]
		} else if pol.UnusedFor > 0 && plan.Time.Sub(lu) < pol.UnusedFor {
			code, why = KeepReasonRecentlyUsed, fmt.Sprintf("used %s ago, within unused_for %s", units.Round(plan.Time.Sub(lu)), pol.UnusedFor)
		}
		if code != "" {
			plan.Kept = append(plan.Kept, Kept{ID: im.ID, RepoTags: im.RepoTags, LastUsed: lu, Code: code, Reason: why})
			continue
		}
		reason := "dangling"
		if !im.Dangling() {
			reason = "matched"
		}
		if pol.UnusedFor > 0 {
			reason += fmt.Sprintf(", unused for %s", units.Round(plan.Time.Sub(lu)))
		}
		cands = append(cands, Removal{ID: im.ID, RepoTags: im.RepoTags, Created: im.Created, LastUsed: lu, Size: im.Size, Reason: reason, image: im})
	}
	slices.SortFunc(cands, func(a, b Removal) int {
		return cmp.Or(a.LastUsed.Compare(b.LastUsed), a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return cands
}

// latest returns, for the images among the KeepLatest newest of one of
// their repositories, the reason in words.
func (p *ImagePruner) latest(selected []Image, lastUse map[string]time.Time) map[string]string {
	pol := p.Policy
	out := map[string]string{}
	if pol.KeepLatest <= 0 {
		return out
	}
	byRepo := map[string][]Image{}
	for _, im := range selected {
		for _, r := range repositories(im) {
			byRepo[r] = append(byRepo[r], im)
		}
	}
	what := "newest by build time"
	order := func(a, b Image) int {
		return cmp.Or(b.Created.Compare(a.Created), lastUse[b.ID].Compare(lastUse[a.ID]), cmp.Compare(a.ID, b.ID))
	}
	if pol.KeepLatestBy == KeepLatestByUsed {
		what = "most recently used"
		order = func(a, b Image) int {
			return cmp.Or(lastUse[b.ID].Compare(lastUse[a.ID]), b.Created.Compare(a.Created), cmp.Compare(a.ID, b.ID))
		}
	}
	for repo, list := range byRepo {
		slices.SortFunc(list, order)
		for _, im := range list[:min(pol.KeepLatest, len(list))] {
			if _, ok := out[im.ID]; !ok {
				out[im.ID] = fmt.Sprintf("among the %d %s of %s", pol.KeepLatest, what, repo)
			}
		}
	}
	return out
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
		plan.Calls.Usage++
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
			plan.Kept = append(plan.Kept, Kept{ID: c.ID, RepoTags: c.RepoTags, LastUsed: c.LastUsed, Code: KeepReasonDisk, Reason: why})
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

// fillDetails completes the images' layers and last tag time from the state
// file or the engine, with at most Concurrency inspections in flight. An
// image removed by someone else since the listing is left out. With fresh,
// the state file's details are not used.
func (p *ImagePruner) fillDetails(ctx context.Context, st *state, imgs []Image, fresh bool, calls *Calls) ([]Image, error) {
	var todo []int
	asked := make([]bool, len(imgs))
	for i := range imgs {
		im := &imgs[i]
		if im.Layers != nil {
			continue
		}
		if d, ok := st.cachedDetail(*im); ok && !fresh {
			im.Layers, im.LastTagTime = d.Layers, d.LastTagTime
			continue
		}
		todo = append(todo, i)
		asked[i] = true
	}
	calls.Detail += len(todo)
	gone := make([]bool, len(imgs))
	details := make([]Detail, len(imgs))
	errs := make([]error, len(imgs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	n := p.Concurrency
	if n <= 0 {
		n = 4
	}
	done := make(chan struct{})
	for range min(n, len(todo)) {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range work {
				d, err := p.Engine.ImageDetail(ctx, imgs[i])
				switch {
				case errors.Is(err, ErrNotFound):
					gone[i] = true
				case err != nil:
					errs[i] = fmt.Errorf("inspect image %s: %w", shortID(imgs[i].ID), err)
					cancel()
				default:
					details[i] = d
				}
			}
		}()
	}
feed:
	for _, i := range todo {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	for range min(n, len(todo)) {
		<-done
	}
	for _, i := range todo {
		if errs[i] != nil {
			return nil, errs[i]
		}
	}
	if err := ctx.Err(); err != nil && len(todo) > 0 {
		return nil, fmt.Errorf("inspect images: %w", err)
	}
	out := imgs[:0:0]
	for i, im := range imgs {
		if gone[i] {
			// Removed by someone else between listing and inspection: it
			// is no longer there to plan for.
			p.log().Info("image gone since listing", "id", shortID(im.ID), "tags", im.RepoTags)
			continue
		}
		if asked[i] {
			d := details[i]
			e := st.entry(im.ID)
			e.Key, e.Detail = detailKey(im), &d
			im.Layers, im.LastTagTime = d.Layers, d.LastTagTime
		}
		if im.Layers == nil {
			im.Layers = []Layer{{ID: im.ID, Size: im.Size}}
		}
		out = append(out, im)
	}
	return out, nil
}

func shortID(id string) string {
	if len(id) > 19 && id[:7] == "sha256:" {
		return id[7:19]
	}
	return id
}
