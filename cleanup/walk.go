package cleanup

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	// path is the absolute path of the directory on top of the stack.
	path []byte
	// relDepth is how deep a relative path can still match a relative
	// glob, a protected path or a mount point.
	relDepth int
	// use adds up what the root's files hold (see usage.go).
	use *usageAcc
}

// splitDepth is how deep (the root is 0) a directory's subdirectories are
// still walked in parallel: the root's and its children's, so that a root
// with a few big subdirectories (/tmp/t0 ... /tmp/t19) still keeps every
// worker busy to the end. Deeper, one worker walks the whole subtree.
const splitDepth = 2

type frame struct {
	// d is the open directory; nil while closed to keep the walk under its
	// descriptor budget (see walk.makeRoom), reopened through ".." when
	// the walk comes back to it.
	d   Dir
	idx int32 // this directory's record in the (part's) report
	// name is the directory's entry name in its parent.
	name string
	// pathLen: w.path[:pathLen] is the directory's absolute path (the path
	// buffer follows the stack, so a path is built only to be printed).
	pathLen int
	// rel is the path relative to the root, kept only as deep as a
	// relative glob, a protected path or a mount point can need it ("" for
	// the root and below that depth).
	rel       string
	depth     int  // 0 for the root
	info      Info // its identity (Dev, Ino) is checked on every reopen
	subdirs   []subdir
	next      int
	remaining int  // entries that stay
	eligible  bool // the directory itself may be removed
	included  bool
	inWithin  bool
	use       *entryAcc // the root's entry it is in (Sweeper.Usage)
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
		within: map[string]bool{}, protect: map[string]bool{}, mounts: mountsUnder(p.mounts, resolved),
		use: p.newUsage(ri)}
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
	// A relative path is needed only as deep as something can match it:
	// path.Match's "*" never matches "/", so a glob of k parts matches
	// only paths of k parts.
	for _, set := range []map[string]bool{w.protect, w.mounts} {
		for k := range set {
			w.relDepth = max(w.relDepth, strings.Count(k, "/")+1)
		}
	}
	for _, g := range append(append([]string{}, w.include.rel...), w.exclude.rel...) {
		w.relDepth = max(w.relDepth, strings.Count(g, "/")+1)
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

// pathOf returns the absolute path of the entry name in f ("" names f
// itself); f must be on the walk's stack.
func (w *walk) pathOf(f *frame, name string) string {
	if name == "" {
		return string(w.path[:f.pathLen])
	}
	b := make([]byte, 0, f.pathLen+1+len(name))
	b = append(append(append(b, w.path[:f.pathLen]...), '/'), name...)
	return string(b)
}

func (w *walk) fail(err error) { w.p.errs = errAppend(w.p.errs, err) }

func (w *walk) run(root Dir, di int32, info Info) error {
	w.rootDev = info.Dev
	rootName := filepath.Base(w.r.Root)
	w.path = append(w.path[:0], w.r.Root...)
	top := &frame{d: root, idx: di, name: w.r.Root, pathLen: len(w.path), info: info, included: w.include.empty(),
		inWithin: len(w.within) == 0 || w.within[rootName], use: w.use.entry(".")}
	w.split = w.p.s.MaxDeletions == 0 && w.r.KeepUnder == 0 && w.p.s.workers() > 1
	w.p.acquire()
	w.p.fds.open.Add(1) // the root, opened by planner.root
	w.list(top)
	w.loop([]*frame{top})
	w.p.release()
	root.Close()
	w.p.fds.open.Add(-1)
	w.spendBudget()
	return nil
}

// loop walks depth first from the frames on stack until it is empty; the
// bottom frame's directory is left open and never closed here. A shallow
// directory's subtrees are walked in parallel (see splitDepth), joined in
// the same order.
func (w *walk) loop(stack []*frame) {
	low := 1 // stack[1:low] are closed (see makeRoom)
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		if f.next == 0 && w.split && f.depth < splitDepth && len(f.subdirs) > 1 && w.p.ctx.Err() == nil {
			w.parallel(f) // leaves f with its subdirectories done
		}
		if f.next < len(f.subdirs) && w.p.ctx.Err() == nil {
			sd := f.subdirs[f.next]
			f.next++
			low = w.makeRoom(stack, low)
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
		parent := stack[len(stack)-1]
		if parent.d == nil {
			w.reopen(stack, f)
			low = len(stack) - 1
		}
		w.closeDir(f)
		w.path = w.path[:parent.pathLen]
		if parent.d == nil {
			parent.remaining++
			continue
		}
		w.leave(parent, f)
		w.forget(f)
	}
}

// makeRoom closes the shallowest open directories of this walk (never the
// bottom one, which another walk may share, nor the top one, about to be
// read) while the descriptors open in the whole sweep are at the budget,
// and returns the new low mark: stack[1:low] are closed.
func (w *walk) makeRoom(stack []*frame, low int) int {
	for low < len(stack)-1 && w.p.fds.open.Load() >= w.p.fds.max {
		w.closeDir(stack[low])
		low++
	}
	return low
}

func (w *walk) closeDir(f *frame) {
	if f.d != nil {
		f.d.Close()
		f.d = nil
		w.p.fds.open.Add(-1)
	}
}

// reopen opens the top directory of stack again, closed by makeRoom, and
// checks it is the very directory walked (same device and inode), as find
// and systemd-tmpfiles do: as the parent ("..") of its child c when c is
// still open, else by name from the nearest open directory above it. A
// directory moved meanwhile is left (Skipped["changed"]) with the rest of
// its entries.
func (w *walk) reopen(stack []*frame, c *frame) {
	k := len(stack) - 1
	f := stack[k]
	var d Dir
	var err error = errChanged
	if c.d != nil {
		d, err = w.openChecked(c.d, "..", f.info)
	}
	if err != nil {
		j := k - 1
		for stack[j].d == nil {
			j--
		}
		from := stack[j].d
		for i := j + 1; i <= k; i++ {
			d, err = w.openChecked(from, stack[i].name, stack[i].info)
			if i > j+1 { // from was opened on the way down
				from.Close()
				w.p.fds.open.Add(-1)
			}
			if err != nil {
				break
			}
			from = d
		}
	}
	if err != nil {
		w.p.rep.skip(SkipReasonChanged)
		if !errGone(err) && !errNotDir(err) && err != errChanged {
			w.fail(fmt.Errorf("sweep %s: reopen %s: %w", w.r.Root, w.pathOf(f, ""), err))
		}
		f.next = len(f.subdirs) + 1 // never removed: its walk is incomplete
		return
	}
	f.d = d
}

// openChecked opens the directory name of d and checks it is the one
// described by want (same device and inode); the descriptor is counted.
func (w *walk) openChecked(d Dir, name string, want Info) (Dir, error) {
	nd, err := d.OpenDir(name)
	if err != nil {
		return nil, err
	}
	got, err := nd.Stat()
	if err == nil && (got.Dev != want.Dev || got.Ino != want.Ino) {
		err = errChanged
	}
	if err != nil {
		nd.Close()
		return nil, err
	}
	w.p.fds.open.Add(1)
	return nd, nil
}

// forget drops the records of f's directory and everything below it once
// the walk is done with them and no listed item needs their path, so that
// memory follows the depth of the tree, not its size.
func (w *walk) forget(f *frame) {
	if w.r.KeepUnder == 0 {
		w.p.trim(f.idx - 1)
	}
}

// enter opens the subdirectory sd of f, checked to be the one examined.
func (w *walk) enter(f *frame, sd subdir) *frame {
	if f.depth+1 >= w.p.maxDepth {
		w.p.rep.skip(SkipReasonTooDeep)
		w.fail(fmt.Errorf("sweep %s: %s: nested deeper than %d levels: not entered", w.r.Root, w.pathOf(f, sd.name), w.p.maxDepth))
		f.remaining++
		return nil
	}
	d, err := f.d.OpenDir(sd.name)
	if err != nil {
		f.remaining++
		switch {
		case errNotDir(err):
			w.p.rep.skip(SkipReasonChanged) // replaced since it was listed
		case !errGone(err):
			w.fail(fmt.Errorf("sweep %s: open %s: %w", w.r.Root, w.pathOf(f, sd.name), err))
		}
		return nil
	}
	w.p.fds.open.Add(1)
	got, err := d.Stat()
	var skip SkipReason
	switch {
	case err != nil:
		skip = SkipReasonChanged
	case sd.listed:
		// Described only now, by the open descriptor: the mount and lock
		// checks the listing could not make.
		skip = w.dirSkip(got)
		sd.info = got
	case got.Ino != sd.info.Ino || got.Dev != sd.info.Dev:
		// The directory opened must be the one examined: a swap between
		// fstatat and openat is caught here.
		skip = SkipReasonChanged
	}
	if skip != "" {
		d.Close()
		w.p.fds.open.Add(-1)
		w.p.rep.skip(skip)
		f.remaining++
		return nil
	}
	w.p.rep.dirs = append(w.p.rep.dirs, dirRec{parent: f.idx, root: w.ri, name: sd.name, dev: got.Dev, ino: got.Ino})
	w.path = append(append(w.path[:f.pathLen], '/'), sd.name...)
	nf := &frame{d: d, idx: int32(len(w.p.rep.dirs) - 1), name: sd.name, pathLen: len(w.path), depth: f.depth + 1,
		info: sd.info, included: sd.incl, inWithin: f.inWithin || w.within[sd.name], eligible: sd.incl && f.inWithin, use: f.use}
	if f.depth == 0 {
		nf.use = w.use.entry(sd.name)
	}
	if nf.depth < w.relDepth {
		nf.rel = join(f.rel, sd.name)
	}
	return nf
}

// leave decides, once f's contents are done, whether f itself goes.
func (w *walk) leave(parent, f *frame) {
	t, old := w.old(f.info)
	if f.remaining != 0 || !f.eligible || !old || w.p.ctx.Err() != nil || f.next != len(f.subdirs) {
		parent.remaining++
		return
	}
	if !w.mayRemove(parent, f.name, f.info) {
		parent.remaining++
		return
	}
	if w.p.capped() {
		w.p.rep.skip(SkipReasonCap)
		parent.remaining++
		return
	}
	it := item{dir: parent.idx, typ: TypeDir, why: ReasonEmpty, name: f.name, ino: f.info.Ino, used: t}
	if w.p.live {
		if !w.remove(parent, it, 1) {
			parent.remaining++
		}
		return
	}
	w.p.emit(it)
}

// remove deletes it, an entry with nlink names, from f's directory at once
// (live sweeps) and logs it with its real path; it reports whether it went.
func (w *walk) remove(f *frame, it item, nlink uint64) bool {
	var err error
	if nlink > 1 && it.typ != TypeDir {
		it.size, err = w.p.links.unlink(f.d, &it)
	} else {
		err = f.d.Remove(it.name, it.typ == TypeDir)
	}
	switch {
	case err == nil:
		if w.p.log.Enabled(w.p.ctx, slog.LevelInfo) {
			logDeleted(w.p.ctx, w.p.log, w.pathOf(f, it.name), &it)
		}
		w.p.emit(it)
		return true
	case errGone(err):
	case err == errChanged:
		w.p.rep.skip(SkipReasonChanged)
	case errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST):
		w.p.rep.skip(SkipReasonNotEmpty)
	default:
		w.fail(fmt.Errorf("sweep %s: remove %s: %w", w.r.Root, w.pathOf(f, it.name), err))
	}
	return false
}

// parallel walks the subtrees under top with up to Workers goroutines,
// each into its own part of the report, and joins the parts in the order a
// single walk would have produced. A part has its own coordinates: its
// directory 0 is top, recorded under its absolute path, so that every path
// built inside the part is the real one; join translates the part's
// directory indices into the whole's once. At most Workers goroutines walk
// at once in all: the caller lends its turn while it waits (see
// planner.acquire).
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
	topPath := w.pathOf(top, "")
	for range min(w.p.s.workers(), len(subs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				w.p.acquire()
				mu.Lock()
				cp := w.p.fork(w.ri, top.idx, topPath)
				mu.Unlock()
				cw := *w
				cw.p = cp
				cw.path = append(make([]byte, 0, 256), topPath...)
				fr := &frame{d: top.d, idx: 0, name: top.name, pathLen: len(cw.path), rel: top.rel, depth: top.depth,
					info: top.info, subdirs: subs[k : k+1], included: top.included, inWithin: top.inWithin, use: top.use}
				cw.loop([]*frame{fr})
				cp.release()
				// Join the parts done so far, in order, to free them early;
				// one that must wait for those before it waits spilled.
				mu.Lock()
				if k != joined {
					cp.spill()
					cp.trim(0)
				}
				parts[k], frames[k] = cp, fr
				for joined < len(parts) && parts[joined] != nil {
					w.p.join(parts[joined], top.idx)
					top.remaining += frames[joined].remaining
					parts[joined], frames[joined] = nil, nil
					joined++
				}
				w.p.trim(top.idx)
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
	var ents listing
	err := readListing(f.d, &ents)
	switch {
	case err == nil:
	case errGone(err):
		// Removed after it was opened (getdents says ENOENT): nothing is
		// left to sweep in it, and it is not there to be removed.
		f.remaining++
		return
	default:
		w.fail(fmt.Errorf("sweep %s: read %s: %w", w.r.Root, w.pathOf(f, ""), err))
		f.remaining += len(ents.ents) + 1
	}
	ents.sort()
	for i := range ents.ents {
		if w.p.live && i%64 == 0 && w.p.ctx.Err() != nil {
			f.remaining += len(ents.ents) - i // stop between deletions
			return
		}
		if e := ents.ents[i]; !e.dir && e.typed && w.listOnly(f) {
			w.unstated(f, string(ents.name(i)))
			continue
		}
		w.examine(f, string(ents.name(i)), ents.ents[i].dir)
	}
}

// examine describes the entry name of f (listedDir: the listing says it is
// a directory) and plans it, or queues it to be entered.
func (w *walk) examine(f *frame, name string, listedDir bool) {
	var info Info
	if listedDir {
		info.Type = TypeDir // described by enter, once opened
	} else if i, err := f.d.Lstat(name); err == nil {
		info = i
	} else {
		if !errGone(err) {
			f.remaining++
			w.fail(fmt.Errorf("sweep %s: stat %s: %w", w.r.Root, w.pathOf(f, name), err))
		}
		return
	}
	w.p.rep.Scanned++
	w.p.rep.Roots[w.ri].Scanned++
	if info.Type == TypeFile {
		w.allBytes += w.inodeBytes(info)
		w.use.file(f.use, info, ageOf(w.basis, info).UnixNano())
	}
	shallow := f.depth < w.relDepth // rel names f; deeper, no relative match is possible
	switch {
	case w.match(w.exclude, f, name):
		w.keep(f, SkipReasonExcluded)
		return
	case shallow && len(w.protect) > 0 && w.protect[join(f.rel, name)]:
		w.keep(f, SkipReasonProtected)
		return
	}
	incl := f.included || w.match(w.include, f, name)
	switch info.Type {
	case TypeDir:
		w.queue(f, subdir{name: name, info: info, incl: incl, listed: listedDir}, shallow)
	case TypeOther:
		w.keep(f, SkipReasonSpecial)
	case TypeSymlink:
		w.symlink(f, name, info, incl && f.inWithin)
	case TypeFile:
		w.file(f, name, info, incl && f.inWithin)
	}
}

// keep counts an entry of f that stays, and why ("": no skip to count).
func (w *walk) keep(f *frame, why SkipReason) {
	if why != "" {
		w.p.rep.skip(why)
	}
	f.remaining++
}

// queue adds sd to the subdirectories f's walk enters, unless it is a
// mount point or locked.
func (w *walk) queue(f *frame, sd subdir, shallow bool) {
	var skip SkipReason
	switch {
	case shallow && len(w.mounts) > 0 && w.mounts[join(f.rel, sd.name)]:
		// Known from mountinfo: never opened (an automount point would
		// mount).
		skip = SkipReasonMount
	case !sd.listed:
		skip = w.dirSkip(sd.info)
	}
	if skip != "" {
		w.keep(f, skip)
		return
	}
	f.subdirs = append(f.subdirs, sd)
}

// symlink plans an old, eligible symlink of f (the link itself).
func (w *walk) symlink(f *frame, name string, info Info, eligible bool) {
	t, old := w.old(info)
	switch {
	case !eligible || !old:
		w.keep(f, SkipReasonSymlink)
	case w.mayRemove(f, name, info) && w.take(f, item{dir: f.idx, typ: TypeSymlink, why: ReasonAge, name: name, ino: info.Ino, used: t}, info.Nlink):
	default:
		w.keep(f, "") // one not permitted is named in the errors
	}
}

// file plans an old, eligible file of f that no process holds, or keeps it
// as a keep_under candidate.
func (w *walk) file(f *frame, name string, info Info, eligible bool) {
	switch {
	case !eligible:
		w.keep(f, "")
		return
	case w.p.held.isLocked(info):
		w.keep(f, SkipReasonLocked)
		return
	case w.p.held.isOpen(info):
		w.keep(f, SkipReasonOpen)
		return
	}
	t, old := w.old(info)
	if !w.p.id.mayRemove(f.info, info.UID) {
		if old {
			w.p.denied(w.r.Root, w.pathOf(f, name))
		}
		w.keep(f, "") // neither old enough nor a budget candidate
		return
	}
	it := item{dir: f.idx, typ: TypeFile, why: ReasonAge, name: name, size: info.Size, ino: info.Ino, used: t}
	switch {
	case old && w.take(f, it, info.Nlink):
	case old:
		w.keep(f, "")
	default:
		w.keep(f, "")
		if w.r.KeepUnder > 0 {
			w.budget = append(w.budget, it)
		}
	}
}

// match reports whether g matches the entry name of f; a glob relative to
// the root is tried only where f's relative path is kept.
func (w *walk) match(g globs, f *frame, name string) bool {
	if f.depth < w.relDepth {
		return g.match(name, f.rel)
	}
	return len(g.base) > 0 && globs{base: g.base}.match(name, "")
}

// dirSkip is why the directory described by info is not entered ("": it
// is): another file system's (a mount point) or locked.
func (w *walk) dirSkip(info Info) SkipReason {
	switch {
	case info.Dev != w.rootDev:
		return SkipReasonMount
	case w.p.held.isLocked(info):
		return SkipReasonLocked
	}
	return ""
}

// mayRemove reports whether the entry name of f, described by info, may be
// removed by this process; when not, it is recorded as denied.
func (w *walk) mayRemove(f *frame, name string, info Info) bool {
	if w.p.id.mayRemove(f.info, info.UID) {
		return true
	}
	w.p.denied(w.r.Root, w.pathOf(f, name))
	return false
}

// take plans it, an entry with nlink names, unless the run's cap is
// reached.
func (w *walk) take(f *frame, it item, nlink uint64) bool {
	if w.p.capped() {
		w.p.rep.skip(SkipReasonCap)
		return false
	}
	if w.p.live {
		return w.remove(f, it, nlink)
	}
	it.size = w.p.links.freed(w.rootDev, it.ino, nlink, it.size)
	w.p.emit(it)
	return true
}

// linkTable makes a file with several names (hard links) count its bytes
// once, on the name that goes last, so that the freed figure is what the
// file system frees. A plan counts the names it plans of each such file;
// a real removal of one is made under the table's lock, after examining
// the name again: its bytes count when it was the last. One table serves
// every part of a parallel walk and every worker of Apply.
type linkTable struct {
	mu sync.Mutex
	m  map[[2]uint64]uint64 // (device, inode): names planned so far
}

// unlink removes the file it (a file or symlink with several names) from
// d and returns the bytes that frees: its size when it was its last name,
// else 0. It fails with errChanged when the name is another inode now.
func (lt *linkTable) unlink(d Dir, it *item) (int64, error) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	info, err := d.Lstat(it.name)
	switch {
	case err != nil:
		return 0, err
	case info.Ino != it.ino || info.Type != it.typ:
		return 0, errChanged
	}
	if err := d.Remove(it.name, false); err != nil {
		return 0, err
	}
	if info.Nlink > 1 {
		return 0, nil
	}
	return info.Size, nil
}

// freed is what a plan counts for one name of a file of size bytes with
// nlink names: size for the last of its names planned, 0 for the others.
func (lt *linkTable) freed(dev, ino, nlink uint64, size int64) int64 {
	if nlink <= 1 {
		return size
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	k := [2]uint64{dev, ino}
	n := lt.m[k] + 1
	if n >= nlink {
		delete(lt.m, k)
		return size
	}
	if lt.m == nil {
		lt.m = map[[2]uint64]uint64{}
	}
	lt.m[k] = n
	return 0
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
			w.p.rep.skip(SkipReasonCap)
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
