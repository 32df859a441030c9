package cleanup

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hashicorp/go-multierror"
)

// Sweeper deletes what is no longer used under cache and temp roots, safely
// enough to run as root over a world-writable /tmp.
//
// Each Rule names a root and a policy (see Rule): entries older than a
// threshold by atime (default), mtime or the newest timestamp are deleted;
// include/exclude globs and Within narrow what is eligible; Protect paths
// are never touched; directories left empty (and old themselves) are
// removed bottom-up, never the root; KeepUnder deletes least recently used
// files until the root fits a size budget; a Hugging Face hub root deletes
// whole revisions (see LayoutHuggingFace); a root of LayoutEntries (compile
// caches) ages each child directory as one unit and deletes it whole.
// MaxDeletions caps one run.
//
// Safety: every directory is opened relative to its parent's descriptor
// with O_NOFOLLOW|O_DIRECTORY, every entry is examined with fstatat (a
// directory the listing names, with fstat once opened) and removed with
// unlinkat by name in that directory, so swapping a directory for a
// symlink while a sweep runs cannot lead it outside the root. Symlinks
// are never followed: an old symlink is removed itself. Mount points are not
// crossed; sockets, FIFOs and devices are skipped; files any process holds
// open or mapped (one scan of /proc per run) or holds a lock on are kept,
// and a locked directory is not entered, as systemd-tmpfiles does.
// Dangerous roots ("/", /usr, /etc, /home, the home directory itself, ...)
// are refused with ErrDangerousRoot. When an atime rule's root sits on a
// noatime mount (read from /proc/self/mountinfo), the rule falls back to the
// newest timestamp and the report says so.
//
// Plan is read-only and returns the exact ordered list a real run would
// delete, with bytes; Apply carries a plan out, checking each entry again
// (same inode, not used since) right before removing it, and returns a
// Report in the same shape; Sweep is Plan then Apply. Every deletion is
// logged at Info. Problems with single entries (permission denied, ...)
// are collected with the path and reason and the sweep goes on. A cancelled
// context stops the run between deletions and returns the partial report.
type Sweeper struct {
	Rules []Rule
	// Protect lists absolute paths never touched, even under a root.
	Protect []string
	// MaxDeletions caps deletions per run; 0 means no limit.
	MaxDeletions int
	// FS is the file system; nil means OS().
	FS FS
	// Proc is the proc file system to read open files, locks and mounts
	// from; "" means "/proc". Tests of a fake FS point it at an empty dir.
	Proc string
	// Home is the home directory, a dangerous root; "" means $HOME.
	Home string
	// Workers is how many goroutines walk and delete at once; 0 means 16
	// (deleting is mostly waiting for the file system, even on 2 cores).
	Workers int
	// MaxDepth bounds how deep directories are entered; 0 means 65,536.
	// Descriptors stay within MaxOpenDirs however deep the tree; memory
	// grows by a few hundred bytes per level.
	MaxDepth int
	// MaxOpenDirs bounds the directories held open at once by the whole
	// sweep, all workers together, walking or carrying out a plan (Apply):
	// past it, the directories highest above the work are closed and
	// reopened, each checked to be the same device and inode, when it
	// comes back to them. 0 means half the soft RLIMIT_NOFILE, at
	// most 4,096; it is raised to at least 4 per worker.
	MaxOpenDirs int
	// ReportItems bounds how many deletions a real sweep lists in its
	// Report's Items, so that memory stays flat however much goes: the rest
	// are counted (Report.ItemsOmitted) and logged. 0 means 1,000;
	// negative means no limit. A dry run always lists its whole plan, and a
	// real run that needs the whole plan first (KeepUnder, the Hugging Face
	// layout) lists every deletion.
	ReportItems int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one Info record per deletion and warnings; nil
	// discards.
	Logger *slog.Logger
	// Usage makes a plan (Plan, or Sweep with dryRun) also fill each
	// RootReport's Entries: what each entry of the root holds (bytes
	// allocated, files, last use) and what the plan frees in it, largest
	// first. An entry is a child directory of the root (see EntryUsage);
	// memory grows with the entries, not the files (and with the files
	// with several names while some names are not met). A rule with Within
	// counts the files inside its directories only.
	Usage bool
}

func (s *Sweeper) fs() FS {
	if s.FS == nil {
		return OS()
	}
	return s.FS
}

func (s *Sweeper) maxOpenDirs() int {
	n := s.MaxOpenDirs
	if n <= 0 {
		n = 4096
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 2*4096 {
			n = int(lim.Cur / 2)
		}
	}
	return max(n, 4*s.workers())
}

func (s *Sweeper) workers() int {
	if s.Workers <= 0 {
		return 16
	}
	return s.Workers
}

// reportItems is how many items a live sweep keeps (-1: all).
func (s *Sweeper) reportItems() int {
	switch {
	case s.ReportItems == 0:
		return 1000
	case s.ReportItems < 0:
		return -1
	}
	return s.ReportItems
}

func (s *Sweeper) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Sweeper) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Sweeper) proc() string {
	if s.Proc == "" {
		return "/proc"
	}
	return s.Proc
}

func (s *Sweeper) home() string {
	if s.Home != "" {
		return filepath.Clean(s.Home)
	}
	h, _ := os.UserHomeDir()
	if h == "" {
		return ""
	}
	return filepath.Clean(h)
}

// Sweep plans and, unless dryRun, applies the plan. When no rule needs the
// whole plan first (no KeepUnder, no Hugging Face layout), a real sweep
// deletes each entry as the walk decides, in the plan's order, right after
// examining it, so each file costs one fstatat and one unlinkat.
func (s *Sweeper) Sweep(ctx context.Context, dryRun bool) (*Report, error) {
	live := !dryRun
	for _, r := range s.Rules {
		if r.KeepUnder > 0 || r.Layout == LayoutHuggingFace {
			live = false
		}
	}
	if live {
		rep, err := s.walkRoots(ctx, true)
		rep.DryRun = false
		s.measureFree(rep)
		rep.Finished = s.now()
		return rep, err
	}
	plan, err := s.Plan(ctx)
	if dryRun || ctx.Err() != nil {
		return plan, err
	}
	rep, aerr := s.Apply(ctx, plan)
	if err != nil {
		// Keep the plan's errors (missing roots, unreadable directories).
		me := multierror.Append(err, aerr)
		rep.Errors = errStrings(me)
		return rep, me.ErrorOrNil()
	}
	return rep, aerr
}

// Plan walks every rule's root read-only and returns the exact list of
// deletions a real run would make, in order, with bytes (Report.DryRun is
// true). Roots that cannot be swept are errors (wrapped ErrDangerousRoot,
// ErrBadRule, or the file system's error) and the other roots still are.
func (s *Sweeper) Plan(ctx context.Context) (*Report, error) { return s.walkRoots(ctx, false) }

// walkRoots walks the roots and plans; live deletes as it goes (a real
// sweep that needs no whole plan first).
func (s *Sweeper) walkRoots(ctx context.Context, live bool) (*Report, error) {
	p := &planner{s: s, ctx: ctx, live: live, log: s.log(), rep: &Report{DryRun: true, Started: s.now(), Skipped: map[SkipReason]int{}},
		itemCap: s.reportItems(), turns: make(chan struct{}, s.workers()), fds: &fdBudget{max: int64(s.maxOpenDirs())},
		links: &linkTable{}}
	p.now = p.rep.Started
	if !live && s.MaxDeletions == 0 {
		p.spool = &spool{}
		p.rep.spool = p.spool
	}
	if id, ok := s.fs().(Identity); ok {
		if uid, groups := id.Identity(); uid != 0 {
			p.id = &identity{uid: uid, groups: groups}
		}
	}
	p.maxDepth = s.MaxDepth
	if p.maxDepth <= 0 {
		p.maxDepth = 1 << 16
	}
	if h, err := readHeld(ctx, s.proc()); err != nil {
		p.warn(err.Error())
		p.held = h
	} else {
		p.held = h
	}
	if ms, err := readMounts(filepath.Join(s.proc(), "self/mountinfo")); err == nil {
		p.mounts = ms
	}
	for _, pr := range s.Protect {
		if !filepath.IsAbs(pr) {
			p.errs = multierror.Append(p.errs, fmt.Errorf("protect %q: %w: not an absolute path", pr, ErrBadRule))
			continue
		}
		p.protect = append(p.protect, filepath.Clean(pr))
	}
	for i, r := range s.Rules {
		if ctx.Err() != nil {
			break
		}
		if err := p.root(int32(i), r); err != nil {
			p.errs = multierror.Append(p.errs, err)
		}
	}
	if err := ctx.Err(); err != nil {
		p.errs = multierror.Append(p.errs, fmt.Errorf("sweep cancelled: %w", err))
	}
	if !live && s.Usage {
		p.plannedUsage()
	}
	p.rep.Finished = s.now()
	p.rep.Errors = errStrings(p.errs)
	return p.rep, p.errs.ErrorOrNil()
}

func errStrings(me *multierror.Error) []string {
	if me == nil {
		return nil
	}
	var out []string
	for _, e := range me.Errors {
		out = append(out, e.Error())
	}
	return out
}

// identity is the effective uid and groups a plan checks permissions for.
type identity struct {
	uid    uint32
	groups []uint32
}

// mayRemove reports whether this process may unlink an entry owned by owner
// from a directory described by dir: it needs write and search permission
// on the directory and, when the directory is sticky (/tmp), to own the
// entry or the directory. Root is taken to have CAP_DAC_OVERRIDE and
// CAP_FOWNER, as in a default container.
func (id *identity) mayRemove(dir Info, owner uint32) bool {
	if id == nil {
		return true
	}
	var bits uint32 = 0o003 // other
	switch {
	case dir.UID == id.uid:
		bits = 0o300
	case slices.Contains(id.groups, dir.GID):
		bits = 0o030
	}
	if dir.Perm&bits != bits {
		return false
	}
	return dir.Perm&0o1000 == 0 || owner == id.uid || dir.UID == id.uid
}

func basisOr(b AgeBasis) AgeBasis {
	if b == "" {
		return AgeBasisAtime
	}
	return b
}

func errAppend(me *multierror.Error, err error) *multierror.Error { return multierror.Append(me, err) }
