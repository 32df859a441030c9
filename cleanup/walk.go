package cleanup

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// walk plans one plain root: a depth-first walk with an explicit stack (no
// recursion), one open descriptor per level.
type walk struct {
	p        *planner
	ri       int32
	r        Rule
	basis    AgeBasis
	cutoff   int64 // UnixNano: entries aged before this are old (0: none)
	include  globs
	exclude  globs
	within   map[string]bool
	protect  map[string]bool // root-relative
	mounts   map[string]bool // root-relative mount points
	rootDev  uint64
	budget   []item // keep_under candidates
	allBytes int64  // bytes of every file under the root, each inode once
	// nlink counts, for KeepUnder, the names seen of each file with
	// several (hard links): its bytes count once and go only with its
	// last name.
	nlink map[uint64]*linkCount
	// dirInfo describes each directory scanned, by record index, for the
	// permission check (Hugging Face layout only).
	dirInfo map[int32]Info
	// split: subtrees may be walked in parallel (no cap, no budget).
	split bool
}

// splitDepth is how deep (the root is 0) a directory's subdirectories are
// still walked in parallel: the root's and its children's, so that a root
// with a few big subdirectories (/tmp/t0 ... /tmp/t19) still keeps every
// worker busy to the end. Deeper, one worker walks the whole subtree.
const splitDepth = 2

type frame struct {
	d         Dir
	idx       int32
	rel       string // relative to the root ("" for the root)
	depth     int    // 0 for the root
	info      Info
	subdirs   []subdir
	next      int
	remaining int  // entries that stay
	eligible  bool // the directory itself may be removed
	included  bool
	inWithin  bool
}

type subdir struct {
	name string
	info Info // zero until entered when listed (see EntryLister)
	incl bool
	// listed: the listing said it is a directory and it was not described
	// by name; enter describes the directory it opened.
	listed bool
}

func newWalk(p *planner, ri int32, r Rule, basis AgeBasis, resolved string) *walk {
	w := &walk{p: p, ri: ri, r: r, basis: basis, include: compileGlobs(r.Include), exclude: compileGlobs(r.Exclude),
		within: map[string]bool{}, protect: map[string]bool{}, mounts: mountsUnder(p.mounts, resolved)}
	if r.OlderThan > 0 {
		w.cutoff = p.now.Add(-r.OlderThan).UnixNano()
	}
	for _, n := range r.Within {
		w.within[n] = true
	}
	for _, pr := range p.protect {
		for _, root := range []string{r.Root, resolved} {
			if pr != root && under(pr, root) {
				w.protect[strings.TrimPrefix(strings.TrimPrefix(pr, root), "/")] = true
			}
		}
	}
	return w
}

func (w *walk) old(info Info) (int64, bool) {
	t := ageOf(w.basis, info).UnixNano()
	return t, w.cutoff != 0 && t < w.cutoff
}

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

func (w *walk) run(root Dir, di int32, info Info) error {
	w.rootDev = info.Dev
	rootName := filepath.Base(w.r.Root)
	top := &frame{d: root, idx: di, info: info, included: w.include.empty(), inWithin: len(w.within) == 0 || w.within[rootName]}
	w.split = w.p.s.MaxDeletions == 0 && w.r.KeepUnder == 0 && w.p.s.workers() > 1
	w.p.acquire()
	w.list(top)
	w.loop([]*frame{top})
	w.p.release()
	root.Close()
	w.spendBudget()
	return nil
}

// loop walks depth first from the frames on stack until it is empty; the
// bottom frame's directory is left open. A shallow directory's subtrees
// are walked in parallel (see splitDepth), joined in the same order.
func (w *walk) loop(stack []*frame) {
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		if f.next == 0 && w.split && f.depth < splitDepth && len(f.subdirs) > 1 && w.p.ctx.Err() == nil {
			w.parallel(f) // leaves f with its subdirectories done
		}
		if f.next < len(f.subdirs) && w.p.ctx.Err() == nil {
			sd := f.subdirs[f.next]
			f.next++
			if nf := w.enter(f, sd); nf != nil {
				stack = append(stack, nf)
				w.list(nf)
			}
			continue
		}
		// Post-order: the directory's contents are done.
		stack = stack[:len(stack)-1]
		if len(stack) == 0 {
			break
		}
		f.d.Close()
		w.leave(stack[len(stack)-1], f)
		w.forget(f)
	}
}

// forget drops the records of f's directory and everything below it once
// a live sweep is done with them and no listed item needs their path, so
// that memory follows the depth of the tree, not its size.
func (w *walk) forget(f *frame) {
	if w.p.live && int(f.idx) < len(w.p.rep.dirs) && w.p.maxItemDir < f.idx {
		w.p.rep.dirs = w.p.rep.dirs[:f.idx]
	}
}

// enter opens the subdirectory sd of f, checked to be the one examined.
func (w *walk) enter(f *frame, sd subdir) *frame {
	if f.depth+1 >= w.p.maxDepth {
		w.p.rep.skip(SkipTooDeep)
		w.p.errs = errAppend(w.p.errs, fmt.Errorf("sweep %s: %s: nested deeper than %d levels: not entered", w.r.Root, join(f.rel, sd.name), w.p.maxDepth))
		f.remaining++
		return nil
	}
	d, err := f.d.OpenDir(sd.name)
	if err != nil {
		f.remaining++
		switch {
		case errNotDir(err):
			w.p.rep.skip(SkipChanged) // replaced since it was listed
		case !errGone(err):
			w.p.errs = errAppend(w.p.errs, fmt.Errorf("sweep %s: open %s: %w", w.r.Root, w.p.rep.dirPath(f.idx)+"/"+sd.name, err))
		}
		return nil
	}
	got, err := d.Stat()
	skip := ""
	switch {
	case err != nil:
		skip = SkipChanged
	case sd.listed:
		// Described only now, by the open descriptor: the mount and lock
		// checks the listing could not make.
		skip = w.dirSkip(got)
		sd.info = got
	case got.Ino != sd.info.Ino || got.Dev != sd.info.Dev:
		// The directory opened must be the one examined: a swap between
		// fstatat and openat is caught here.
		skip = SkipChanged
	}
	if skip != "" {
		d.Close()
		w.p.rep.skip(skip)
		f.remaining++
		return nil
	}
	w.p.rep.dirs = append(w.p.rep.dirs, dirRec{parent: f.idx, root: w.ri, name: sd.name, dev: got.Dev, ino: got.Ino})
	return &frame{d: d, idx: int32(len(w.p.rep.dirs) - 1), rel: join(f.rel, sd.name), depth: f.depth + 1, info: sd.info,
		included: sd.incl, inWithin: f.inWithin || w.within[sd.name], eligible: sd.incl && f.inWithin}
}

// leave decides, once f's contents are done, whether f itself goes.
func (w *walk) leave(parent, f *frame) {
	t, old := w.old(f.info)
	if f.remaining != 0 || !f.eligible || !old || w.p.ctx.Err() != nil || f.next != len(f.subdirs) {
		parent.remaining++
		return
	}
	if !w.mayRemove(parent, w.p.rep.dirs[f.idx].name, f.info) {
		parent.remaining++
		return
	}
	if w.p.capped() {
		w.p.rep.skip(SkipCap)
		parent.remaining++
		return
	}
	it := item{dir: parent.idx, typ: TypeDir, why: ReasonEmpty, name: w.p.rep.dirs[f.idx].name, ino: f.info.Ino, used: t}
	if w.p.live {
		if !w.p.remove(parent.d, it) {
			parent.remaining++
		}
		return
	}
	w.p.emit(it)
}

// parallel walks the subtrees under top with up to Workers goroutines,
// each into its own part of the report, and joins the parts in the order a
// single walk would have produced. At most Workers goroutines walk at once
// in all: the caller lends its turn while it waits (see planner.acquire).
func (w *walk) parallel(top *frame) {
	subs := top.subdirs
	top.subdirs, top.next = nil, 0
	w.p.release()
	defer w.p.acquire()
	parts := make([]*planner, len(subs))
	frames := make([]*frame, len(subs))
	joined := 0 // parts before this one are joined
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(w.p.s.workers(), len(subs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				w.p.acquire()
				mu.Lock()
				cp := w.p.fork(w.ri, top.idx)
				mu.Unlock()
				cw := *w
				cw.p = cp
				fr := &frame{d: top.d, idx: 0, rel: top.rel, depth: top.depth, info: top.info, subdirs: subs[k : k+1],
					included: top.included, inWithin: top.inWithin}
				cw.loop([]*frame{fr})
				cp.release()
				// Join the parts done so far, in order, to free them early.
				mu.Lock()
				parts[k], frames[k] = cp, fr
				for joined < len(parts) && parts[joined] != nil {
					w.p.join(parts[joined], top.idx)
					top.remaining += frames[joined].remaining
					parts[joined], frames[joined] = nil, nil
					joined++
				}
				mu.Unlock()
			}
		}()
	}
	for k := range subs {
		next <- k
	}
	close(next)
	wg.Wait()
}

// list examines every entry of f's directory, plans its files and symlinks
// and queues its subdirectories.
func (w *walk) list(f *frame) {
	ents, err := readEntries(f.d)
	if err != nil {
		w.p.errs = errAppend(w.p.errs, fmt.Errorf("sweep %s: read %s: %w", w.r.Root, w.p.rep.dirPath(f.idx), err))
		f.remaining += len(ents) + 1
	}
	slices.SortFunc(ents, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	rr := &w.p.rep.Roots[w.ri]
	for i, e := range ents {
		name := e.Name
		if w.p.live && i%64 == 0 && w.p.ctx.Err() != nil {
			f.remaining += len(ents) - i // stop between deletions
			return
		}
		var info Info
		if e.Dir {
			info.Type = TypeDir // described by enter, once opened
		} else if info, err = f.d.Lstat(name); err != nil {
			if !errGone(err) {
				f.remaining++
				w.p.errs = errAppend(w.p.errs, fmt.Errorf("sweep %s: stat %s: %w", w.r.Root, w.p.rep.dirPath(f.idx)+"/"+name, err))
			}
			continue
		}
		w.p.rep.Scanned++
		rr.Scanned++
		if info.Type == TypeFile {
			w.allBytes += w.inodeBytes(info)
		}
		switch {
		case w.exclude.match(name, f.rel):
			w.p.rep.skip(SkipExcluded)
			f.remaining++
			continue
		case len(w.protect) > 0 && w.protect[join(f.rel, name)]:
			w.p.rep.skip(SkipProtected)
			f.remaining++
			continue
		}
		incl := f.included || w.include.match(name, f.rel)
		eligible := incl && f.inWithin
		switch info.Type {
		case TypeDir:
			skip := ""
			switch {
			case len(w.mounts) > 0 && w.mounts[join(f.rel, name)]:
				// Known from mountinfo: never opened (an automount
				// point would mount).
				skip = SkipMount
			case !e.Dir:
				skip = w.dirSkip(info)
			}
			if skip != "" {
				w.p.rep.skip(skip)
				f.remaining++
				continue
			}
			f.subdirs = append(f.subdirs, subdir{name: name, info: info, incl: incl, listed: e.Dir})
		case TypeOther:
			w.p.rep.skip(SkipSpecial)
			f.remaining++
		case TypeSymlink:
			t, old := w.old(info)
			switch {
			case !eligible || !old:
				w.p.rep.skip(SkipSymlink)
			case w.mayRemove(f, name, info) && w.take(f, item{dir: f.idx, typ: TypeSymlink, why: ReasonAge, name: name, ino: info.Ino, used: t}):
				continue
			}
			f.remaining++ // kept (one not permitted is named in the errors)
		case TypeFile:
			f.remaining++
			switch {
			case !eligible:
				continue
			case w.p.held.isLocked(info):
				w.p.rep.skip(SkipLocked)
				continue
			case w.p.held.isOpen(info):
				w.p.rep.skip(SkipOpen)
				continue
			}
			t, old := w.old(info)
			if !w.p.id.mayRemove(f.info, info.Uid) {
				if old {
					w.p.denied(w.r.Root, w.p.rep.dirPath(f.idx)+"/"+name)
				}
				continue // neither old enough nor a budget candidate
			}
			it := item{dir: f.idx, typ: TypeFile, why: ReasonAge, name: name, size: info.Size, ino: info.Ino, used: t}
			if old {
				if w.take(f, it) {
					f.remaining--
				}
			} else if w.r.KeepUnder > 0 {
				w.budget = append(w.budget, it)
			}
		}
	}
}

// dirSkip is why the directory described by info is not entered ("": it
// is): another file system's (a mount point) or locked.
func (w *walk) dirSkip(info Info) string {
	switch {
	case info.Dev != w.rootDev:
		return SkipMount
	case w.p.held.isLocked(info):
		return SkipLocked
	}
	return ""
}

// mayRemove reports whether the entry name of f, described by info, may be
// removed by this process; when not, it is recorded as denied.
func (w *walk) mayRemove(f *frame, name string, info Info) bool {
	if w.p.id.mayRemove(f.info, info.Uid) {
		return true
	}
	w.p.denied(w.r.Root, w.p.rep.dirPath(f.idx)+"/"+name)
	return false
}

// take plans it unless the run's cap is reached.
func (w *walk) take(f *frame, it item) bool {
	if w.p.capped() {
		w.p.rep.skip(SkipCap)
		return false
	}
	if w.p.live {
		return w.p.remove(f.d, it)
	}
	w.p.emit(it)
	return true
}

// linkCount is how many names a file with hard links has, and how many
// of them were seen under the root.
type linkCount struct{ nlink, seen uint64 }

// inodeBytes is what a file adds to the root's size for KeepUnder: its
// size the first time its inode is seen, 0 for its other names.
func (w *walk) inodeBytes(info Info) int64 {
	if w.r.KeepUnder <= 0 || info.Nlink <= 1 {
		return info.Size
	}
	if w.nlink == nil {
		w.nlink = map[uint64]*linkCount{}
	}
	lc := w.nlink[info.Ino]
	if lc == nil {
		lc = &linkCount{nlink: info.Nlink}
		w.nlink[info.Ino] = lc
	}
	lc.seen++
	if lc.seen > 1 {
		return 0
	}
	return info.Size
}

// spendBudget plans least recently used files until the root fits
// KeepUnder. A file with hard links counts once and goes with all its
// names at once (its bytes on the last), and only when every name is
// under the root and may go: removing some names frees nothing.
func (w *walk) spendBudget() {
	if w.r.KeepUnder <= 0 {
		return
	}
	left := w.allBytes - w.p.rep.Roots[w.ri].Bytes
	slices.SortStableFunc(w.budget, func(a, b item) int {
		switch {
		case a.used < b.used:
			return -1
		case a.used > b.used:
			return 1
		}
		return 0
	})
	names := map[uint64][]int{} // budget indexes of each linked inode's names
	for i, it := range w.budget {
		if w.nlink[it.ino] != nil {
			names[it.ino] = append(names[it.ino], i)
		}
	}
	for i, it := range w.budget {
		if left <= w.r.KeepUnder {
			break
		}
		unit := []int{i}
		if lc := w.nlink[it.ino]; lc != nil {
			unit = names[it.ino]
			if unit[0] != i {
				continue // planned with its first name
			}
			if uint64(len(unit)) != lc.nlink {
				continue // other names stay: nothing would be freed
			}
		}
		if w.p.s.MaxDeletions > 0 && w.p.rep.Deleted+len(unit) > w.p.s.MaxDeletions {
			w.p.rep.skip(SkipCap)
			continue
		}
		for n, k := range unit {
			x := w.budget[k]
			x.why = ReasonBudget
			if n != len(unit)-1 {
				x.size = 0
			}
			w.p.emit(x)
		}
		left -= it.size
	}
	w.budget, w.nlink = nil, nil
}
