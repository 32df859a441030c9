package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	a := &applier{s: s, ctx: ctx, rep: rep, log: s.log()}
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
// last user closes it.
type sharedDir struct {
	Dir
	idx  int32
	refs atomic.Int32
}

func (d *sharedDir) release() {
	if d.refs.Add(-1) == 0 {
		d.Close()
	}
}

type applier struct {
	s     *Sweeper
	ctx   context.Context
	rep   *Report
	log   *slog.Logger
	stack []*sharedDir // open directories from a root down
	jobs  chan job
	wg    sync.WaitGroup
	mu    sync.Mutex
	errs  *multierror.Error
}

type job struct {
	d    *sharedDir
	i, j int
}

func (a *applier) start(n int) {
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
// to be the directory planned, or nil (the failure is recorded).
func (a *applier) open(idx int32) *sharedDir {
	chain := []int32{}
	for i := idx; i >= 0; i = a.rep.dirs[i].parent {
		chain = append(chain, i)
	}
	// chain is leaf..root; keep the common prefix of the open stack.
	k := 0
	for k < len(a.stack) && k < len(chain) && a.stack[k].idx == chain[len(chain)-1-k] {
		k++
	}
	for _, d := range a.stack[k:] {
		d.release()
	}
	a.stack = a.stack[:k]
	for k < len(chain) {
		rec := a.rep.dirs[chain[len(chain)-1-k]]
		var d Dir
		var err error
		if k == 0 {
			d, err = a.s.fs().OpenRoot(rec.name)
		} else {
			d, err = a.stack[k-1].OpenDir(rec.name)
		}
		if err == nil {
			var info Info
			if info, err = d.Stat(); err == nil && (info.Ino != rec.ino || info.Dev != rec.dev) {
				err = errChanged
			}
			if err != nil {
				d.Close()
			}
		}
		if err != nil {
			if !errGone(err) && !errNotDir(err) && err != errChanged {
				a.fail(fmt.Errorf("sweep %s: open %s: %w", a.rep.Roots[rec.root].Root, a.rep.dirPath(chain[len(chain)-1-k]), err))
			}
			return nil
		}
		sd := &sharedDir{Dir: d, idx: chain[len(chain)-1-k]}
		sd.refs.Store(1)
		a.stack = append(a.stack, sd)
		k++
	}
	return a.stack[len(a.stack)-1]
}

var errChanged = errors.New("changed since the plan")

func (a *applier) closeAll() {
	for _, d := range a.stack {
		d.release()
	}
	a.stack = nil
}

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
	err = d.Remove(it.name, it.typ == TypeDir)
	switch {
	case errGone(err):
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
	a.rep.Bytes += it.size
	root.Deleted++
	root.Bytes += it.size
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
