package cleanup

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// A root of LayoutEntries (compile caches: Triton, torch.compile's inductor,
// vLLM; conda's package directories) holds one entry per child: a child
// directory is one unit, aged by the newest use of anything inside it and
// deleted whole or not at all; a child file or symlink is a single-file
// entry, aged and deleted as the plain layout does.
//
// A directory entry's use is the newest, by the rule's Age, of the files
// and symlinks inside it, and the newest mtime of the directories inside
// it, itself included (an entry added or removed there). A directory's
// atime does not count: listing a directory refreshes it, this sweep's own
// listing included, so an entry would never age. The entry stays whole
// when anything inside it is held (a file open, mapped or locked by a
// process; a directory locked), is a mount point (by mountinfo or device:
// never crossed), a socket, FIFO or device, protected, excluded, nested
// deeper than entryMaxDepth, or cannot be read, or when this process may
// not remove all of it. Symlinks are never followed: a symlink inside an
// entry goes as a link. Include, when set, selects entries by their name.
//
// An entry is read twice: once to age it and count what it holds (only
// aggregates are kept, never a record per file; every entry is read whole,
// a young one too, so that the root's held totals and, with
// Sweeper.Usage, each entry's usage count all its files) and, when it goes, once more to delete it, contents
// first; anything used since the first read (its timestamp newer than the
// entry's use) stays with the directories holding it. With KeepUnder the
// least recently used entries go next, whole, until the files under the
// root that only one name links (a hard-linked file frees nothing while
// another name remains: conda links its packages into environments) fit
// the budget.

// entryMaxDepth is how deep (below the entry) an entry directory is read;
// a deeper one stays whole (its content is unknown). No compile cache
// nests this deep, and one descriptor per level stays open.
const entryMaxDepth = 64

// SkipReasonHeldEntry counts entries (LayoutEntries) kept whole because a
// process holds something inside them open, mapped or locked.
const SkipReasonHeldEntry SkipReason = "held_entry"

// entrySum is what the first read of an entry found.
type entrySum struct {
	used  int64 // UnixNano of the newest use (see LayoutEntries)
	bytes int64 // files' sizes, for the report
	free  int64 // the sizes of files with one name: what deleting frees
	n     int   // entries inside, the entry itself included
	// block is why the entry must stay whole ("": it may go); denied is
	// the first path inside this process may not remove.
	block  SkipReason
	denied string
}

// entryRec is a directory entry kept for the KeepUnder pass.
type entryRec struct {
	name string
	info Info
	sum  entrySum
}

// entryWalk plans one root of LayoutEntries.
type entryWalk struct {
	*walk
	root     Dir
	di       int32
	rootInfo Info
	limit    int
	keep     []entryRec // KeepUnder candidates
	total    int64      // freeable bytes under the root, for KeepUnder
	freed    int64      // freeable bytes of the entries planned by age
}

// blockErr keeps an entry whole for a reason named in the errors (a
// directory that cannot be read or entered); it is not counted in Skipped.
const blockErr SkipReason = "error"

// entries plans a root of LayoutEntries.
func (p *planner) entries(ri int32, r Rule, basis AgeBasis, resolved string, d Dir, di int32, info Info) error {
	w := newWalk(p, ri, r, basis, resolved)
	w.rootDev = info.Dev
	e := &entryWalk{walk: w, root: d, di: di, rootInfo: info, limit: min(entryMaxDepth, p.maxDepth)}
	p.fds.open.Add(1) // the root, opened by planner.root
	defer e.closeDir(d)
	defer w.use.report(&p.rep.Roots[ri])
	var ents listing
	if err := readListing(d, &ents); err != nil {
		return fmt.Errorf("sweep %s: read %s: %w", r.Root, r.Root, err)
	}
	ents.sort()
	if p.s.MaxDeletions == 0 && r.KeepUnder == 0 && p.s.workers() > 1 && len(ents.ents) > 1 {
		names := make([]string, len(ents.ents))
		for i := range ents.ents {
			names[i] = string(ents.name(i))
		}
		e.parallel(names)
		return nil
	}
	for i := range ents.ents {
		if p.ctx.Err() != nil {
			return nil
		}
		e.entry(string(ents.name(i)))
	}
	e.budget()
	return nil
}

// parallel plans (or, live, deletes) the entries names of the root with up
// to Workers goroutines, each entry into a part of the report of its own
// (see planner.fork), joined in name order: the plan's order is the one
// a single walk gives, and deleting many small entries overlaps the
// unlinks' latency. Only without a cap or a budget, which count across
// entries.
func (e *entryWalk) parallel(names []string) {
	p := e.p
	rootPath := p.rep.dirPath(e.di)
	parts := make([]*planner, len(names))
	joined := 0
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(p.s.workers(), len(names)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				p.acquire()
				mu.Lock()
				cp := p.fork(e.ri, e.di, rootPath)
				mu.Unlock()
				cw := *e.walk
				cw.p = cp
				ce := &entryWalk{walk: &cw, root: e.root, di: 0, rootInfo: e.rootInfo, limit: e.limit}
				if p.ctx.Err() == nil {
					ce.entry(names[k])
				}
				p.release()
				mu.Lock()
				if k != joined {
					cp.spill()
				}
				parts[k] = cp
				for joined < len(parts) && parts[joined] != nil {
					p.join(parts[joined], e.di)
					parts[joined] = nil
					joined++
				}
				mu.Unlock()
			}
		}()
	}
	for k := range names {
		next <- k
	}
	close(next)
	wg.Wait()
}

// entry ages and plans the child name of the root.
func (e *entryWalk) entry(name string) {
	p := e.p
	info, err := e.root.Lstat(name)
	if err != nil {
		if !errGone(err) {
			e.fail(fmt.Errorf("sweep %s: stat %s: %w", e.r.Root, e.pathIn(e.di, name), err))
		}
		return
	}
	p.rep.Scanned++
	p.rep.Roots[e.ri].Scanned++
	if why := e.pinned(name, "", info); why != "" {
		p.rep.skip(why)
		return
	}
	if !e.include.empty() && !e.include.match(name, "") {
		return
	}
	switch info.Type {
	case TypeOther:
		p.rep.skip(SkipReasonSpecial)
	case TypeFile, TypeSymlink:
		e.single(name, info)
	case TypeDir:
		e.dirEntry(name, info)
	}
}

// pinned is why the entry name of the directory at dirRel (below the
// root), described by info, stays whatever its age ("": nothing says so).
func (e *entryWalk) pinned(name, dirRel string, info Info) SkipReason {
	switch {
	case e.exclude.match(name, dirRel):
		return SkipReasonExcluded
	case len(e.protect) > 0 && e.protect[join(dirRel, name)]:
		return SkipReasonProtected
	case info.Dev != e.rootDev || len(e.mounts) > 0 && e.mounts[join(dirRel, name)]:
		return SkipReasonMount
	case e.p.held.isLocked(info):
		return SkipReasonLocked
	case info.Type == TypeFile && e.p.held.isOpen(info):
		return SkipReasonOpen
	}
	return ""
}

// single plans a child file or symlink of the root: an entry of its own.
func (e *entryWalk) single(name string, info Info) {
	t, old := e.old(info)
	sum := entrySum{used: t, n: 1}
	if info.Type == TypeFile {
		e.use.file(e.use.entry("."), info, t)
		sum.bytes = info.Size
		if info.Nlink <= 1 {
			sum.free = info.Size
		}
	}
	if !e.p.id.mayRemove(e.rootInfo, info.UID) {
		sum.denied = e.pathIn(e.di, name)
	}
	e.total += sum.free
	if old && e.drop(name, info, sum, ReasonAge) {
		e.freed += sum.free
		return
	}
	if e.r.KeepUnder > 0 && sum.denied == "" {
		e.keep = append(e.keep, entryRec{name: name, info: info, sum: sum})
	}
}

// dirEntry ages a child directory of the root and plans it whole when it
// is old.
func (e *entryWalk) dirEntry(name string, info Info) {
	sum := entrySum{used: info.Mtime.UnixNano(), n: 1}
	if !e.p.id.mayRemove(e.rootInfo, info.UID) {
		sum.denied = e.pathIn(e.di, name)
	}
	d, err := e.openDir(e.root, name, info)
	if err != nil {
		if e.openFailed(err, e.pathIn(e.di, name)) == SkipReasonChanged {
			e.p.rep.skip(SkipReasonChanged)
		}
		return
	}
	e.scan(d, name, info, 1, &sum, e.use.entry(name))
	e.closeDir(d)
	e.total += sum.free
	switch sum.block {
	case "":
	case blockErr:
		return
	default:
		e.p.rep.skip(sum.block)
		return
	}
	if e.cutoff != 0 && sum.used < e.cutoff && e.drop(name, info, sum, ReasonEntry) {
		e.freed += sum.free
		return
	}
	if e.r.KeepUnder > 0 && sum.denied == "" {
		e.keep = append(e.keep, entryRec{name: name, info: info, sum: sum})
	}
}

// openFailed is why a directory that could not be opened stays: changed
// since it was examined, or an error (named in the errors).
func (e *entryWalk) openFailed(err error, path string) SkipReason {
	if errGone(err) || errNotDir(err) || err == errChanged {
		return SkipReasonChanged
	}
	e.fail(fmt.Errorf("sweep %s: open %s: %w", e.r.Root, path, err))
	return blockErr
}

// openDir opens the directory name of d, checked to be the one described
// by want (same device and inode) and counted in the sweep's descriptor
// budget until closeDir.
func (e *entryWalk) openDir(d Dir, name string, want Info) (Dir, error) {
	return e.openChecked(d, name, want)
}

func (e *entryWalk) closeDir(d Dir) {
	d.Close()
	e.p.fds.open.Add(-1)
}

// scan reads the directory d (rel below the root, depth levels below it)
// into sum, its regular files into the usage sums (acc: the entry's). It
// reads the whole entry, whatever its age and whatever keeps it whole, so
// that the root's held totals and the entry's usage are those of all its
// files; what keeps it whole is the first reason met (sum.block), and a
// directory that must not be entered (a mount point, one protected,
// excluded or held, one nested too deep) is not.
func (e *entryWalk) scan(d Dir, rel string, dinfo Info, depth int, sum *entrySum, acc *entryAcc) {
	var ents listing
	if err := readListing(d, &ents); err != nil {
		if !errGone(err) {
			sum.blocked(blockErr)
			e.fail(fmt.Errorf("sweep %s: read %s/%s: %w", e.r.Root, e.r.Root, rel, err))
		}
		return
	}
	ents.sort()
	for i := range ents.ents {
		name := string(ents.name(i))
		info, err := d.Lstat(name)
		if err != nil {
			if !errGone(err) {
				sum.blocked(blockErr)
				e.fail(fmt.Errorf("sweep %s: stat %s/%s/%s: %w", e.r.Root, e.r.Root, rel, name, err))
			}
			continue
		}
		e.p.rep.Scanned++
		e.p.rep.Roots[e.ri].Scanned++
		sum.n++
		if info.Type == TypeFile && info.Dev == e.rootDev {
			e.use.file(acc, info, ageOf(e.basis, info).UnixNano())
		}
		if why := e.pinned(name, rel, info); why != "" {
			if why == SkipReasonOpen || why == SkipReasonLocked {
				why = SkipReasonHeldEntry
			}
			sum.blocked(why)
			continue
		}
		if sum.denied == "" && !e.p.id.mayRemove(dinfo, info.UID) {
			sum.denied = e.r.Root + "/" + rel + "/" + name
		}
		switch info.Type {
		case TypeOther:
			sum.blocked(SkipReasonSpecial)
		case TypeFile, TypeSymlink:
			sum.used = max(sum.used, ageOf(e.basis, info).UnixNano())
			if info.Type == TypeFile {
				sum.bytes += info.Size
				if info.Nlink <= 1 {
					sum.free += info.Size
				}
			}
		case TypeDir:
			sum.used = max(sum.used, info.Mtime.UnixNano())
			if depth >= e.limit {
				if sum.blocked(SkipReasonTooDeep) {
					e.fail(fmt.Errorf("sweep %s: %s/%s/%s: nested deeper than %d levels in its entry: kept", e.r.Root, e.r.Root, rel, name, e.limit))
				}
				continue
			}
			sub, err := e.openDir(d, name, info)
			if err != nil {
				sum.blocked(e.openFailed(err, e.r.Root+"/"+rel+"/"+name))
				continue
			}
			e.scan(sub, rel+"/"+name, info, depth+1, sum, acc)
			e.closeDir(sub)
		}
	}
}

// blocked keeps the entry whole for why, unless something already does;
// it reports whether why is the reason now.
func (s *entrySum) blocked(why SkipReason) bool {
	if s.block != "" {
		return false
	}
	s.block = why
	return true
}

// drop plans the entry name of the root whole, unless this process may
// not remove all of it or the run's cap would cut it in half; it reports
// whether it was planned.
func (e *entryWalk) drop(name string, info Info, sum entrySum, why Reason) bool {
	p := e.p
	if sum.denied != "" {
		p.denied(e.r.Root, sum.denied)
		return false
	}
	if p.s.MaxDeletions > 0 && p.rep.Deleted+sum.n > p.s.MaxDeletions {
		p.rep.skip(SkipReasonCap)
		return false
	}
	first := int32(len(p.rep.dirs))
	if info.Type != TypeDir {
		it := item{dir: e.di, typ: info.Type, why: why, name: name, ino: info.Ino, used: sum.used}
		if info.Type == TypeFile {
			it.size = info.Size
		}
		return e.put(e.root, it, info.Nlink)
	}
	d, err := e.openDir(e.root, name, info)
	if err != nil {
		p.rep.skip(SkipReasonChanged)
		return false
	}
	p.rep.dirs = append(p.rep.dirs, dirRec{parent: e.di, root: e.ri, name: name, dev: info.Dev, ino: info.Ino})
	kept := e.remove(d, int32(len(p.rep.dirs)-1), sum.used, why)
	e.closeDir(d)
	goes := kept == 0 && e.put(e.root, item{dir: e.di, typ: TypeDir, why: why, name: name, ino: info.Ino, used: sum.used}, 1)
	if p.live && int(first) < len(p.rep.dirs) && p.maxItemDir < first {
		// Nothing listed needs these directories' paths any more.
		clear(p.rep.dirs[first:])
		p.rep.dirs = p.rep.dirs[:first]
	}
	return goes
}

// remove plans everything inside the directory d (record idx): its files
// and symlinks in name order, then each subdirectory, contents first.
// Anything used after used (since the entry was aged) stays; it returns
// how many entries of d stay.
func (e *entryWalk) remove(d Dir, idx int32, used int64, why Reason) int {
	var ents listing
	if err := readListing(d, &ents); err != nil {
		if errGone(err) {
			return 0
		}
		e.fail(fmt.Errorf("sweep %s: read %s: %w", e.r.Root, e.p.rep.dirPath(idx), err))
		return 1
	}
	ents.sort()
	kept := 0
	type sub struct {
		name string
		info Info
	}
	var subs []sub
	for i := range ents.ents {
		name := string(ents.name(i))
		info, err := d.Lstat(name)
		switch {
		case errGone(err):
			continue
		case err != nil:
			e.fail(fmt.Errorf("sweep %s: stat %s/%s: %w", e.r.Root, e.p.rep.dirPath(idx), name, err))
			kept++
			continue
		case info.Type == TypeDir:
			subs = append(subs, sub{name, info})
			continue
		case info.Type == TypeOther, e.p.held.isOpen(info) || e.p.held.isLocked(info):
			kept++
			continue
		}
		t := ageOf(e.basis, info).UnixNano()
		if t > used {
			kept++ // used since the entry was aged
			continue
		}
		it := item{dir: idx, typ: info.Type, why: why, name: name, ino: info.Ino, used: t}
		if info.Type == TypeFile {
			it.size = info.Size
		}
		if !e.put(d, it, info.Nlink) {
			kept++
		}
	}
	for _, s := range subs {
		sd, err := e.openDir(d, s.name, s.info)
		if err != nil {
			kept++
			continue
		}
		e.p.rep.dirs = append(e.p.rep.dirs, dirRec{parent: idx, root: e.ri, name: s.name, dev: s.info.Dev, ino: s.info.Ino})
		k := e.remove(sd, int32(len(e.p.rep.dirs)-1), used, why)
		e.closeDir(sd)
		if k != 0 || !e.put(d, item{dir: idx, typ: TypeDir, why: why, name: s.name, ino: s.info.Ino, used: s.info.Mtime.UnixNano()}, 1) {
			kept++
		}
	}
	return kept
}

// put deletes it, a name of an inode with nlink names, from d at once
// (live sweeps) or adds it to the plan; it reports whether it went (or is
// planned).
func (e *entryWalk) put(d Dir, it item, nlink uint64) bool {
	p := e.p
	if !p.live {
		// A file with several names frees its bytes with the last of
		// them (linkTable), as in the plain walk.
		it.size = p.links.freed(e.rootDev, it.ino, nlink, it.size)
		p.emit(it)
		return true
	}
	var err error
	if nlink > 1 && it.typ != TypeDir {
		it.size, err = p.links.unlink(d, &it)
	} else {
		err = d.Remove(it.name, it.typ == TypeDir)
	}
	if err != nil {
		if err == errChanged {
			p.rep.skip(SkipReasonChanged)
		} else if !errGone(err) {
			e.fail(fmt.Errorf("sweep %s: remove %s: %w", e.r.Root, e.pathIn(it.dir, it.name), err))
		}
		return false
	}
	if p.log.Enabled(p.ctx, slog.LevelInfo) {
		logDeleted(p.ctx, p.log, e.pathIn(it.dir, it.name), &it)
	}
	p.emit(it)
	return true
}

// pathIn is the absolute path of name in directory record idx.
func (e *entryWalk) pathIn(idx int32, name string) string {
	return e.p.rep.dirPath(idx) + "/" + name
}

// budget plans the least recently used entries, whole, until the freeable
// bytes under the root fit KeepUnder.
func (e *entryWalk) budget() {
	if e.r.KeepUnder <= 0 {
		return
	}
	left := e.total - e.freed
	slices.SortStableFunc(e.keep, func(a, b entryRec) int {
		switch {
		case a.sum.used < b.sum.used:
			return -1
		case a.sum.used > b.sum.used:
			return 1
		}
		return 0
	})
	for _, k := range e.keep {
		if left <= e.r.KeepUnder || e.p.ctx.Err() != nil {
			break
		}
		if e.drop(k.name, k.info, k.sum, ReasonBudget) {
			left -= k.sum.free
		}
	}
	e.keep = nil
}
