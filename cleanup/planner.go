package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
)

// planner is the state of one walk over the roots (Plan, or a real sweep
// deleting as it goes); its methods live here, but for the Hugging Face
// layout's (hub.go).
type planner struct {
	s        *Sweeper
	live     bool // delete as the walk decides
	log      *slog.Logger
	ctx      context.Context
	rep      *Report
	now      time.Time
	held     *held
	mounts   []mount
	protect  []string
	maxDepth int
	errs     *multierror.Error
	// maxItemDir is the deepest directory record an item refers to; live
	// sweeps drop the records past it once they are left.
	maxItemDir int32
	// itemCap bounds the items a live sweep keeps (-1: no bound).
	itemCap int
	// id is who this process is, when the FS enforces permissions and it
	// is not root (nil: everything is taken as removable).
	id *identity
	// turns holds one token per goroutine walking now (Workers at most),
	// shared by every fork.
	turns chan struct{}
	// fds counts the directories held open by every walk of the sweep.
	fds *fdBudget
	// links counts the names removed of files with several.
	links *linkTable
	// spool takes the items a dry run does not keep in memory (nil: all
	// stay); spillOK is false while a rule that counts rep.items plans.
	spool   *spool
	spillOK bool
	buf     []byte
	// uses are the usage sums of each root walked, by rule index.
	uses map[int32]*usageAcc
}

// fdBudget is the descriptor budget of one sweep, shared by all workers.
type fdBudget struct {
	open atomic.Int64
	max  int64
}

// acquire waits for a turn to walk; release gives it back.
func (p *planner) acquire() { p.turns <- struct{}{} }
func (p *planner) release() { <-p.turns }

// denied records that an entry at path stays because this process may not
// remove it, as the error a real removal would have given.
func (p *planner) denied(root, path string) {
	p.rep.skip(SkipReasonNotPermitted)
	p.errs = errAppend(p.errs, fmt.Errorf("sweep %s: remove %s: %w", root, path, syscall.EPERM))
}

func (p *planner) warn(msg string) {
	p.rep.Notes = append(p.rep.Notes, msg)
	p.s.log().Warn(msg)
}

func (p *planner) capped() bool {
	return p.s.MaxDeletions > 0 && p.rep.Deleted >= p.s.MaxDeletions
}

// fork returns a planner for one subtree of root ri, below directory di
// whose absolute path is path, with a report of its own: the part's own
// coordinates, where directory 0 is di recorded under its absolute path
// (parent -1, like a root), so that a path built inside the part is the
// real one. join translates them into the whole's.
func (p *planner) fork(ri, di int32, path string) *planner {
	c := &planner{s: p.s, ctx: p.ctx, live: p.live, log: p.log, now: p.now, held: p.held, mounts: p.mounts,
		protect: p.protect, maxDepth: p.maxDepth, itemCap: p.itemCap, id: p.id, turns: p.turns, fds: p.fds, links: p.links,
		spool: p.spool, spillOK: p.spillOK}
	if c.itemCap >= 0 {
		// The fork's items are joined after the ones listed so far.
		c.itemCap = max(0, c.itemCap-len(p.rep.items))
	}
	c.rep = &Report{Skipped: map[SkipReason]int{}, Roots: make([]RootReport, len(p.rep.Roots)), spool: p.spool}
	c.rep.Roots[ri] = RootReport{Root: p.rep.Roots[ri].Root, Age: p.rep.Roots[ri].Age}
	top := p.rep.dirs[di]
	top.parent, top.name = -1, path
	c.rep.dirs = []dirRec{top}
	return c
}

// join appends a forked planner's work, in order, translating the part's
// directory indices (0 is di) into the whole's. Only the part's records
// its items in memory name come along; its spooled items' chains get the
// chain down to di as their prefix.
func (p *planner) join(c *planner, di int32) {
	tr := xlat{di: di, base: int32(len(p.rep.dirs))}
	if len(c.rep.items) > 0 {
		for _, d := range c.rep.dirs[1 : c.maxItemDir+1] {
			d.parent = tr.apply(d.parent)
			p.rep.dirs = append(p.rep.dirs, d)
		}
	}
	if len(c.rep.segs) > 0 {
		// The part's spooled items follow the ones held here: spill
		// these first, or, where that fails, bring the part's back.
		if p.spill(); len(p.rep.items) > 0 {
			c.rep.loadItems()
		}
		top := chainOf(nil, p.rep.dirs, di)
		for _, sg := range c.rep.segs {
			if len(sg.prefix) > 0 {
				sg.prefix = append(top[:len(top):len(top)], sg.prefix[1:]...)
			} else {
				sg.prefix = top
			}
			p.rep.segs = append(p.rep.segs, sg)
		}
	}
	for _, it := range c.rep.items {
		if p.live && p.itemCap >= 0 && len(p.rep.items) >= p.itemCap {
			p.rep.ItemsOmitted++
			continue
		}
		it.dir = tr.apply(it.dir)
		p.rep.items = append(p.rep.items, it)
		p.maxItemDir = max(p.maxItemDir, it.dir)
	}
	if p.spillOK && len(p.rep.items) >= spillAt {
		p.spill()
	}
	p.rep.ItemsOmitted += c.rep.ItemsOmitted
	p.rep.Scanned += c.rep.Scanned
	p.rep.Deleted += c.rep.Deleted
	p.rep.Bytes += c.rep.Bytes
	for i, r := range c.rep.Roots {
		p.rep.Roots[i].Scanned += r.Scanned
		p.rep.Roots[i].Deleted += r.Deleted
		p.rep.Roots[i].Bytes += r.Bytes
	}
	for k, v := range c.rep.Skipped {
		p.rep.Skipped[k] += v
	}
	if c.errs != nil {
		p.errs = multierror.Append(p.errs, c.errs.Errors...)
	}
}

// emit adds a deletion to the plan (a live sweep past its ReportItems only
// counts it).
func (p *planner) emit(it item) {
	if p.live && p.itemCap >= 0 && len(p.rep.items) >= p.itemCap {
		p.rep.ItemsOmitted++
	} else {
		p.rep.items = append(p.rep.items, it)
		p.maxItemDir = max(p.maxItemDir, it.dir)
		if p.spillOK && len(p.rep.items) >= spillAt {
			p.spill()
		}
	}
	p.rep.Deleted++
	p.rep.Bytes += it.size
	rr := &p.rep.Roots[p.rep.dirs[it.dir].root]
	rr.Deleted++
	rr.Bytes += it.size
}

// root plans one rule: admit its root, open it, walk it.
func (p *planner) root(ri int32, r Rule) error {
	if r.Root != "" && filepath.IsAbs(r.Root) {
		r.Root = filepath.Clean(r.Root)
	}
	p.rep.Roots = append(p.rep.Roots, RootReport{Root: r.Root, Age: basisOr(r.Age), FreeBefore: -1, FreeAfter: -1})
	resolved, ok, err := p.admit(ri, r)
	if !ok {
		return err
	}
	d, info, err := p.openRoot(ri, r, resolved)
	if err != nil {
		return err
	}
	p.rep.dirs = append(p.rep.dirs, dirRec{parent: -1, root: ri, name: r.Root, dev: info.Dev, ino: info.Ino})
	di := int32(len(p.rep.dirs) - 1)
	age := p.rep.Roots[ri].Age
	if r.Layout == LayoutHuggingFace {
		// The hub layout counts p.rep.items: keep them at hand.
		p.spillOK = false
		return p.hub(ri, r, age, resolved, d, di, info)
	}
	p.spillOK = p.spool != nil
	if r.Layout == LayoutEntries {
		return p.entries(ri, r, age, resolved, d, di, info)
	}
	w := newWalk(p, ri, r, age, resolved)
	err = w.run(d, di, info)
	w.use.report(&p.rep.Roots[ri])
	return err
}

// admit checks rule ri and its root, as named and with its symlinks
// resolved (on the real file system, whether named or nil): ok is false
// when it is not to be walked, with the error saying why (nil for a
// missing root that may be, or a protected one, noted in its report). It
// returns the resolved root and sets the age basis (noatime mounts).
func (p *planner) admit(ri int32, r Rule) (resolved string, ok bool, err error) {
	rr := &p.rep.Roots[ri]
	if err := r.check(); err != nil {
		return "", false, err
	}
	if err := checkRoot(r, p.s.home(), ""); err != nil {
		return "", false, err
	}
	st, err := p.s.fs().Lstat(r.Root)
	switch {
	case errors.Is(err, os.ErrNotExist) && r.MissingOK:
		rr.Missing, rr.Note = true, "root does not exist"
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("sweep %s: %w", r.Root, err)
	case st.Type == TypeSymlink:
		return "", false, fmt.Errorf("sweep %s: the root is a symlink: name its target instead", r.Root)
	case st.Type != TypeDir:
		return "", false, fmt.Errorf("sweep %s: the root is not a directory", r.Root)
	}
	resolved = r.Root
	if _, real := p.s.fs().(osFS); real {
		if resolved, err = filepath.EvalSymlinks(r.Root); err != nil {
			return "", false, fmt.Errorf("sweep %s: resolve symlinks: %w", r.Root, err)
		}
	}
	if err := checkRoot(r, p.s.home(), resolved); err != nil {
		return "", false, err
	}
	for _, pr := range p.protect {
		if under(r.Root, pr) || under(resolved, pr) {
			rr.Note = "root is protected by " + pr
			p.rep.skip(SkipReasonProtected)
			return "", false, nil
		}
	}
	if m, ok := mountOf(p.mounts, resolved); ok && rr.Age == AgeBasisAtime && hasOption(m.options, "noatime") {
		rr.Age = AgeBasisNewest
		rr.Note = fmt.Sprintf("%s is mounted noatime: ageing by the newest of atime, mtime and ctime instead", m.point)
		p.warn(fmt.Sprintf("sweep %s: %s", r.Root, rr.Note))
	}
	return resolved, true, nil
}

// openRoot opens rule ri's root, checks it is the directory admitted (the
// resolved path names the same device and inode, so a parent swapped for
// a symlink after the checks is caught) and measures its free space.
func (p *planner) openRoot(ri int32, r Rule, resolved string) (Dir, Info, error) {
	rr := &p.rep.Roots[ri]
	d, err := p.s.fs().OpenRoot(r.Root)
	if err != nil {
		return nil, Info{}, fmt.Errorf("sweep %s: open root: %w", r.Root, err)
	}
	info, err := d.Stat()
	if err == nil && resolved != r.Root {
		var st Info
		if st, err = p.s.fs().Lstat(resolved); err == nil && (st.Dev != info.Dev || st.Ino != info.Ino) {
			err = errChanged
		}
	}
	if err != nil {
		d.Close()
		return nil, Info{}, fmt.Errorf("sweep %s: stat root: %w", r.Root, err)
	}
	rr.dev = info.Dev
	if fsp, ok := d.(FreeSpacer); ok {
		if n, err := fsp.FreeBytes(); err == nil {
			rr.FreeBefore = n
		}
	}
	return d, info, nil
}

// spill writes the planner's in-memory items to the spool as a segment,
// each with its chain of directories, so that their records may go (see
// trim). Where no spool can be had (no temporary directory, a full disk),
// the items stay in memory.
func (p *planner) spill() {
	r := p.rep
	if len(r.items) == 0 || p.spool == nil {
		return
	}
	p.buf = encodeItems(p.buf[:0], r.dirs, r.items)
	off, err := p.spool.write(p.buf)
	if err != nil {
		return
	}
	r.segs = append(r.segs, segment{off: off, n: int32(len(p.buf)), count: int32(len(r.items))})
	clear(r.items)
	r.items = r.items[:0]
	p.maxItemDir = 0
	if cap(p.buf) > 1<<20 {
		p.buf = nil
	}
}

// trim drops the directory records past keep that no item in memory
// names: keep is the deepest directory still being walked, and every
// record past it is below it.
func (p *planner) trim(keep int32) {
	if n := max(keep, p.maxItemDir) + 1; int(n) < len(p.rep.dirs) {
		clear(p.rep.dirs[n:])
		p.rep.dirs = p.rep.dirs[:n]
	}
}
