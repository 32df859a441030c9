package cleanup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
)

// Apply carries out a plan made by Plan and returns the report of what was
// done, in the plan's shape and order. Each directory is opened again
// relative to its parent and must be the very directory planned (same
// device and inode); each entry is examined again right before it is
// removed and is kept (Skipped["changed"]) when it is another inode, another
// type, or was used since the plan. Files and symlinks are removed by
// Workers goroutines at once; emptied directories follow, deepest first.
// Cancelling ctx stops between deletions; the partial report is returned.
func (s *Sweeper) Apply(ctx context.Context, plan *Report) (*Report, error) {
	if err := plan.loadItems(); err != nil {
		return nil, fmt.Errorf("sweep: read the plan back: %w", err)
	}
	rep := &Report{Started: s.now(), Skipped: map[SkipReason]int{}, Notes: plan.Notes, dirs: plan.dirs, items: plan.items,
		done: make([]bool, len(plan.items)), Scanned: plan.Scanned}
	for k, v := range plan.Skipped {
		rep.Skipped[k] = v
	}
	rep.Roots = make([]RootReport, len(plan.Roots))
	for i, r := range plan.Roots {
		r.Deleted, r.Bytes = 0, 0
		rep.Roots[i] = r
	}
	a := &applier{s: s, ctx: ctx, rep: rep, log: s.log(), low: 1}
	a.start(s.workers())
	var rmdirs []int
	for i := 0; i < len(rep.items); {
		if ctx.Err() != nil {
			break
		}
		if rep.items[i].typ == TypeDir {
			rmdirs = append(rmdirs, i)
			i++
			continue
		}
		j := i + 1
		for j < len(rep.items) && rep.items[j].dir == rep.items[i].dir && rep.items[j].typ != TypeDir {
			j++
		}
		a.batch(i, j)
		i = j
	}
	a.wait()
	for _, i := range rmdirs {
		if ctx.Err() != nil {
			break
		}
		if d := a.open(rep.items[i].dir); d != nil {
			a.remove(d, i)
		} else {
			a.skipped(SkipReasonChanged)
		}
	}
	a.closeAll()
	if err := ctx.Err(); err != nil {
		a.fail(fmt.Errorf("sweep cancelled: %w", err))
	}
	s.measureFree(rep)
	rep.Finished = s.now()
	rep.Errors = errStrings(a.errs)
	return rep, a.errs.ErrorOrNil()
}

// measureFree fills FreeAfter and FreedMeasured.
func (s *Sweeper) measureFree(rep *Report) {
	seen := map[uint64]bool{}
	for i := range rep.Roots {
		r := &rep.Roots[i]
		if r.FreeBefore < 0 {
			continue
		}
		d, err := s.fs().OpenRoot(r.Root)
		if err != nil {
			continue
		}
		if fsp, ok := d.(FreeSpacer); ok {
			if n, err := fsp.FreeBytes(); err == nil {
				r.FreeAfter = n
				if !seen[r.dev] {
					seen[r.dev] = true
					rep.FreedMeasured += n - r.FreeBefore
				}
			}
		}
		d.Close()
	}
}

// sharedDir is an open directory used by the driver and by workers; the
// last user closes it and gives its descriptor back to the budget.
type sharedDir struct {
	Dir
	idx  int32
	refs atomic.Int32
	fds  chan struct{}
}

func (d *sharedDir) release() {
	if d.refs.Add(-1) == 0 {
		d.Close()
		<-d.fds
	}
}

type applier struct {
	s   *Sweeper
	ctx context.Context
	rep *Report
	log *slog.Logger
	// stack is the chain of directories from a root down to the one
	// last opened; an entry's d is nil while closed to keep Apply within
	// its descriptor budget (the root's and the deepest one's never are).
	stack []appDir
	// low: stack[1:low] are closed (makeRoom starts there).
	low   int
	links linkTable
	// fds holds a token per directory open (MaxOpenDirs, shared by the
	// driver and the workers, whose batches hold theirs until done).
	fds  chan struct{}
	up   []int32 // scratch
	jobs chan job
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs *multierror.Error
}

type appDir struct {
	idx int32
	d   *sharedDir
}

type job struct {
	d    *sharedDir
	i, j int
}

func (a *applier) start(n int) {
	a.fds = make(chan struct{}, a.s.maxOpenDirs())
	a.jobs = make(chan job, 64)
	for range n {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for jb := range a.jobs {
				for k := jb.i; k < jb.j && a.ctx.Err() == nil; k++ {
					a.remove(jb.d, k)
				}
				jb.d.release()
			}
		}()
	}
}

func (a *applier) batch(i, j int) {
	d := a.open(a.rep.items[i].dir)
	if d == nil {
		for k := i; k < j; k++ {
			a.skipped(SkipReasonChanged)
		}
		return
	}
	d.refs.Add(1)
	a.jobs <- job{d: d, i: i, j: j}
}

func (a *applier) wait() {
	close(a.jobs)
	a.wg.Wait()
}

func (a *applier) fail(err error) {
	a.mu.Lock()
	a.errs = multierror.Append(a.errs, err)
	a.mu.Unlock()
}

func (a *applier) skipped(reason SkipReason) {
	a.mu.Lock()
	a.rep.skip(reason)
	a.mu.Unlock()
}

// open returns directory idx, opened fd-relative from its root and checked
// to be the directory planned, or nil (the failure is recorded). The
// directories it shares with the one opened before stay open, but for the
// shallowest ones, closed while the budget is spent and reopened when the
// walk comes back up to them: through ".." from the one below, checked
// to be the same device and inode, as the walk does.
func (a *applier) open(idx int32) *sharedDir {
	// The chain's indices grow from the root down: find where idx's
	// chain leaves the stack's.
	a.up = a.up[:0]
	k := 0
	for i := idx; i >= 0; i = a.rep.dirs[i].parent {
		if j, ok := slices.BinarySearchFunc(a.stack, i, func(e appDir, x int32) int { return cmp.Compare(e.idx, x) }); ok {
			k = j + 1
			break
		}
		a.up = append(a.up, i)
	}
	if k > 0 && a.stack[k-1].d == nil && !a.reopen(k-1) {
		return nil
	}
	a.pop(k)
	for i := len(a.up) - 1; i >= 0; i-- {
		x := a.up[i]
		rec := a.rep.dirs[x]
		a.makeRoom(len(a.stack) - 1)
		a.fds <- struct{}{}
		var d Dir
		var err error
		if len(a.stack) == 0 {
			d, err = a.s.fs().OpenRoot(rec.name)
		} else {
			d, err = a.stack[len(a.stack)-1].d.OpenDir(rec.name)
		}
		if err == nil {
			if err = checkDir(d, rec); err != nil {
				d.Close()
			}
		}
		if err != nil {
			<-a.fds
			if !errGone(err) && !errNotDir(err) && err != errChanged {
				a.fail(fmt.Errorf("sweep %s: open %s: %w", a.rep.Roots[rec.root].Root, a.rep.dirPath(x), err))
			}
			return nil
		}
		sd := &sharedDir{Dir: d, idx: x, fds: a.fds}
		sd.refs.Store(1)
		a.stack = append(a.stack, appDir{idx: x, d: sd})
	}
	return a.stack[len(a.stack)-1].d
}

// checkDir checks that d is the directory rec describes.
func checkDir(d Dir, rec dirRec) error {
	info, err := d.Stat()
	if err == nil && (info.Ino != rec.ino || info.Dev != rec.dev) {
		err = errChanged
	}
	return err
}

// pop releases the stack's directories from k on.
func (a *applier) pop(k int) {
	for _, e := range a.stack[k:] {
		if e.d != nil {
			e.d.release()
		}
	}
	clear(a.stack[k:])
	a.stack = a.stack[:k]
	a.low = max(1, min(a.low, k))
}

// makeRoom closes the shallowest open directories of the stack, below the
// root and above limit, while the budget is spent.
func (a *applier) makeRoom(limit int) {
	for ; a.low < limit && len(a.fds) >= cap(a.fds); a.low++ {
		if e := &a.stack[a.low]; e.d != nil {
			e.d.release()
			e.d = nil
		}
	}
}

// reopen opens stack[k] again, closed by makeRoom: as ".." of the nearest
// open directory below it, one level at a time, or where that fails by
// name from the nearest open one above it; each is checked to be the
// directory planned. A directory moved since is not followed: the stack is
// cut there and reopen reports false.
func (a *applier) reopen(k int) bool {
	if m := len(a.stack) - 1; a.stack[m].d != nil {
		for m > k && a.stack[m-1].d != nil {
			m--
		}
		i := m - 1
		for ; i >= k && a.reopenAt(i, a.stack[i+1].d, "..") == nil; i-- {
			// Done with the one below once its parent is open.
			a.stack[i+1].d.release()
			a.stack[i+1].d = nil
		}
		if i < k {
			return true
		}
	}
	j := k - 1
	for j >= 0 && a.stack[j].d == nil {
		j--
	}
	if j < 0 {
		a.pop(0)
		return false
	}
	for i := j + 1; i <= k; i++ {
		if a.stack[i].d != nil {
			continue
		}
		err := a.reopenAt(i, a.stack[i-1].d, a.rep.dirs[a.stack[i].idx].name)
		if err != nil {
			rec := a.rep.dirs[a.stack[i].idx]
			if !errGone(err) && !errNotDir(err) && err != errChanged {
				a.fail(fmt.Errorf("sweep %s: reopen %s: %w", a.rep.Roots[rec.root].Root, a.rep.dirPath(a.stack[i].idx), err))
			}
			a.pop(i)
			return false
		}
	}
	return true
}

// reopenAt opens stack[i] as name in from, checked to be the directory
// planned.
func (a *applier) reopenAt(i int, from *sharedDir, name string) error {
	e := &a.stack[i]
	a.makeRoom(i - 1)
	a.fds <- struct{}{}
	d, err := from.OpenDir(name)
	if err == nil {
		if err = checkDir(d, a.rep.dirs[e.idx]); err != nil {
			d.Close()
		}
	}
	if err != nil {
		<-a.fds
		return err
	}
	e.d = &sharedDir{Dir: d, idx: e.idx, fds: a.fds}
	e.d.refs.Store(1)
	a.low = max(1, min(a.low, i))
	return nil
}

var errChanged = errors.New("changed since the plan")

func (a *applier) closeAll() { a.pop(0) }

// remove deletes item k from d after checking it is what was planned.
func (a *applier) remove(d *sharedDir, k int) {
	it := &a.rep.items[k]
	root := &a.rep.Roots[a.rep.dirs[it.dir].root]
	info, err := d.Lstat(it.name)
	switch {
	case errGone(err):
		return
	case err != nil:
		a.fail(fmt.Errorf("sweep %s: stat %s: %w", root.Root, a.rep.itemPath(it), err))
		return
	case info.Ino != it.ino || info.Type != it.typ ||
		(it.typ == TypeFile && ageOf(root.Age, info).UnixNano() != it.used):
		a.skipped(SkipReasonChanged)
		return
	}
	size := it.size
	if it.typ == TypeFile {
		// What it frees now: its last name may be this one, whichever the
		// plan counted its bytes on.
		size = info.Size
	}
	if info.Nlink > 1 && it.typ != TypeDir {
		// Its bytes count on the name that goes last (see linkTable).
		size, err = a.links.unlink(d, it)
	} else {
		err = d.Remove(it.name, it.typ == TypeDir)
	}
	switch {
	case errGone(err):
		return
	case err == errChanged:
		a.skipped(SkipReasonChanged)
		return
	case errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST):
		a.skipped(SkipReasonNotEmpty)
		return
	case err != nil:
		a.fail(fmt.Errorf("sweep %s: remove %s: %w", root.Root, a.rep.itemPath(it), err))
		return
	}
	a.mu.Lock()
	a.rep.done[k] = true
	a.rep.Deleted++
	a.rep.Bytes += size
	root.Deleted++
	root.Bytes += size
	a.mu.Unlock()
	if a.log.Enabled(a.ctx, slog.LevelInfo) {
		logDeleted(a.ctx, a.log, a.rep.itemPath(it), it)
	}
}

// logDeleted writes the audit record of one deletion.
func logDeleted(ctx context.Context, log *slog.Logger, path string, it *item) {
	attrs := append(pathAttrs(path), slog.String("type", it.typ.String()), slog.Int64("bytes", it.size),
		slog.String("reason", it.why.String()), slog.Time("used", time.Unix(0, it.used)))
	log.LogAttrs(ctx, slog.LevelInfo, "deleted", attrs...)
}
