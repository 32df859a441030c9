package rotate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// filePlan is one live log's plan within a batch: its report (the
// actions), the open and locked file, and what the journal records.
type filePlan struct {
	fr        FileReport
	rule      Rule
	f         *os.File
	st        os.FileInfo
	now       time.Time
	cut       cutPlan
	in        *intent   // rotating, not a dry run
	firstSeen time.Time // not rotating and not in the state yet
	err       error     // why the log could not be planned (fr.Error)
	newest    *backup   // rename: the newest plain backup, checked for a stuck writer
	next      int       // the first action execute left to finish
	errs      []error   // what execute and finish reported
	dry       bool
}

func (p *filePlan) close() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
}

// planFile looks at one live log (opened and, unless dry, flocked) and
// plans its rotation or upkeep from the directory listing x.
func (r *Rotator) planFile(path string, rule Rule, x *dirIndex, store *stateStore, dry bool) *filePlan {
	p := &filePlan{rule: rule, dry: dry, fr: FileReport{Path: path, Method: rule.method()}}
	fail := func(err error) *filePlan { p.fr.Error, p.err = err.Error(), err; return p }
	// The listing says what the name is; the open (O_NOFOLLOW) and fstat
	// make sure of it. The directory lock keeps other runs away meanwhile.
	if e, ok := x.names[filepath.Base(path)]; ok {
		switch t := e.Type(); {
		case t&os.ModeSymlink != 0:
			return fail(fmt.Errorf("is a symbolic link: rotate the file it points to instead"))
		case t.IsDir():
			return fail(fmt.Errorf("is a directory, not a log file"))
		case !t.IsRegular():
			return fail(fmt.Errorf("is not a regular file (%s)", t.Type()))
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist) && rule.MissingOK:
		p.fr.Reason = "missing (missing_ok)"
		return p
	case errors.Is(err, os.ErrNotExist):
		return fail(fmt.Errorf("no such file (set missing_ok to allow)"))
	case errors.Is(err, unix.ELOOP):
		return fail(fmt.Errorf("is a symbolic link: rotate the file it points to instead"))
	case err != nil:
		return fail(err)
	}
	if !dry {
		if err := lockFile(f); err != nil {
			f.Close()
			return fail(err)
		}
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("is not a regular file (%s)", st.Mode().Type())
	}
	if err != nil {
		f.Close()
		return fail(err)
	}
	p.f, p.st = f, st

	size := st.Size()
	var start int64
	if rule.method() == MethodCopyTruncate && sparse(st) {
		start = dataStart(f, size)
	}
	now := r.now()
	p.now = now
	base := filepath.Base(path)
	bks, acts := dedupeCompressed(x.backups(base, rule.DateExt))
	for _, tmp := range x.tempsOf(base) {
		acts = append(acts, Action{Op: OpDelete, Path: tmp, Detail: "left by an interrupted run"})
	}
	if rule.method() == MethodRename && len(bks) > 0 && bks[0].ext == "" {
		p.newest = &bks[0]
	}
	last, known := store.lastRotated(path)
	if !known && len(bks) > 0 && rule.Every > 0 {
		// Self-healing: no record (new or damaged state) but backups on
		// disk: the newest one was last written when it was rotated.
		newest := bks[0]
		for _, b := range bks {
			if b.mtime().After(newest.mtime()) {
				newest = b
			}
		}
		last, known = newest.mtime(), true
	}
	p.fr.Rotate, p.fr.Reason = decide(rule, size-start, last, known, now, r.Force)
	if !p.fr.Rotate {
		p.fr.Actions = append(acts, planUpkeep(path, rule, bks, now)...)
		if _, had := store.lastRotated(path); !had {
			p.firstSeen = last0(last, known, now)
		}
		return p
	}
	if rule.method() == MethodCopyTruncate {
		p.cut = r.planCut(f, start, size)
		wait := ""
		switch {
		case p.cut.cut <= p.cut.start:
			wait = "no whole line to copy yet"
		case p.cut.unaligned && !r.Force && rule.Size > 0 && size-start >= rule.Size && size-start < rule.Size+min(3*rule.Size, deferLimit):
			wait = "size reached, but no line ends on a block boundary yet: waiting for one, so that the live log keeps no NUL prefix"
		}
		if wait != "" {
			p.fr.Rotate, p.fr.Reason = false, wait
			p.fr.Actions = append(acts, planUpkeep(path, rule, bks, now)...)
			return p
		}
	}
	exists := func(name string) bool { _, ok := x.names[filepath.Base(name)]; return ok }
	rot, err := planRotation(path, rule, bks, now, size, exists)
	if err != nil {
		return fail(err)
	}
	p.fr.Actions = append(acts, rot...)
	in := intent{Path: path, Method: rule.method(), Time: now.UTC().Truncate(time.Second)}
	in.Dev, in.Ino = inodeOf(st)
	for i := range p.fr.Actions {
		a := &p.fr.Actions[i]
		switch a.Op {
		case OpRename:
			in.Backup = a.To
		case OpCopy:
			in.Backup = a.To
			a.Bytes = p.cut.cut - p.cut.start
		case OpDrop:
			a.Bytes = p.cut.cut
			a.Detail = p.cut.note
		}
	}
	if dry {
		return p
	}
	if rule.Create != nil && rule.method() == MethodRename {
		c := *rule.Create
		in.Create = &c
	}
	if s := rule.Signal; s != nil && rule.method() == MethodRename {
		in.Pidfile = s.Pidfile
		if sig, ok := s.sig().(syscall.Signal); ok {
			in.Signal = int(sig)
		}
	}
	in.Start, in.Cut, in.Aligned = p.cut.start, p.cut.cut, p.cut.aligned
	p.in = &in
	return p
}

// execute carries out a plan up to its first compression (the rest is
// finish's) and records the outcome in the state.
func (r *Rotator) execute(ctx context.Context, p *filePlan, store *stateStore, jr *journal, b *batchRun) error {
	fr := &p.fr
	if !fr.Rotate {
		var err error
		p.next, err = r.apply(ctx, fr, p.rule, nil, nil, jr, b, 0, true)
		if !p.firstSeen.IsZero() {
			store.put(fr.Path, p.firstSeen)
		}
		return err
	}
	var err error
	p.next, err = r.apply(ctx, fr, p.rule, p.st, &p.cut, jr, b, 0, true)
	if !moved(*fr) {
		fr.Rotate = false // nothing was taken away: try again next run
		return err
	}
	store.put(fr.Path, p.now)
	return err
}

// finish carries out what execute left: the compressions and the steps
// after them.
func (r *Rotator) finish(ctx context.Context, p *filePlan, jr *journal, b *batchRun) error {
	_, err := r.apply(ctx, &p.fr, p.rule, p.st, &p.cut, jr, b, p.next, false)
	return err
}

// cutPlan is the range a copytruncate copies and then drops: [start, cut)
// holds whole lines only.
type cutPlan struct {
	start, cut int64
	aligned    int64  // cut rounded down to a block, when cut is not on one
	note       string // how the drop will look
	unaligned  bool   // collapse possible, but no line ends on a block boundary
	chase      bool   // no collapse-range: the copy takes every whole line there is when it starts
	blk        int64
}

// extend moves the cut to the last line end of f's current contents, for
// a file system without collapse-range: lines written since the plan go
// into this backup, so that the log is likelier to be idle, and truncated
// rather than punched, at the drop.
func (c *cutPlan) extend(f *os.File) {
	st, err := f.Stat()
	if !c.chase || err != nil || st.Size() <= c.cut {
		return
	}
	var b [1]byte
	if end := lineEnd(f, c.cut, st.Size()); end > c.cut {
		if _, err := f.ReadAt(b[:], end-1); err == nil && b[0] == '\n' {
			c.cut = end // whole lines only: a partial last line stays
		}
	}
	c.aligned = 0
	if c.cut%c.blk != 0 && c.cut >= c.blk {
		c.aligned = c.cut / c.blk * c.blk
	}
}

// deferLimit bounds how far past its size trigger a copytruncate waits
// (at most 3x size, at most this) for a line end on a block boundary rather
// than leave NULs in front of the live log (the log grows; each new block
// boundary is a line end with a chance of one in the line length).
const deferLimit = 1 << 20

const tmpfsMagic = 0x01021994

// planCut chooses the copied range of a live log of size bytes whose data
// starts at start. On a file system that can collapse ranges the cut is
// the last line end that falls on a block boundary: with O_APPEND writers
// collapse-range removes exactly the copied lines and the live log starts
// with a whole line, no NULs. Where no line ends on a block boundary, or
// the file system can only punch (tmpfs), the cut is the last line end;
// the part punched (and with a writer at its own offset, all of it) reads
// as NULs until the next rotation copies past it.
func (r *Rotator) planCut(f *os.File, start, size int64) cutPlan {
	end := lineEnd(f, start, size)
	c := cutPlan{start: start, cut: end}
	var sfs unix.Statfs_t
	blk := int64(4096)
	collapse := true
	if unix.Fstatfs(int(f.Fd()), &sfs) == nil {
		if sfs.Bsize > 0 {
			blk = int64(sfs.Bsize)
		}
		collapse = int64(sfs.Type) != tmpfsMagic
	}
	c.blk, c.chase = blk, !collapse
	// Writers are looked at when the range is dropped (a writer without
	// O_APPEND gets punch-hole there); the cut is a line end either way.
	switch {
	case !collapse:
		c.note = fmt.Sprintf("this file system cannot collapse ranges: punch-hole, %d bytes read as NULs", end)
	default:
		if b := alignedLineEnd(f, start, end, blk); b > start {
			c.cut = b
			c.note = "collapse-range at a line end on a block boundary"
			if end > b {
				c.note += fmt.Sprintf(", %d bytes of whole lines stay for the next rotation", end-b)
			}
		} else if end%blk != 0 {
			c.unaligned = true
			c.note = fmt.Sprintf("no line ends on a block boundary: %d bytes read as NULs", end%blk)
		}
	}
	if c.cut%blk != 0 && c.cut >= blk {
		c.aligned = c.cut / blk * blk
	}
	return c
}

// alignedLineEnd returns the largest multiple of blk in (start, end] that
// ends a line (the byte before it is a newline), or 0. It looks back over
// at most 4096 blocks.
func alignedLineEnd(f *os.File, start, end, blk int64) int64 {
	var b [1]byte
	for off, n := end/blk*blk, 0; off > start && n < 4096; off, n = off-blk, n+1 {
		if _, err := f.ReadAt(b[:], off-1); err == nil && b[0] == '\n' {
			return off
		}
	}
	return 0
}

// dedupeCompressed drops from bks the plain backups that also exist
// compressed (a compression killed after its rename) and plans their
// deletion: the compressed file is whole, it was fsynced before it got
// its name.
func dedupeCompressed(bks []backup) ([]backup, []Action) {
	type slot struct {
		index int
		stamp string
	}
	packed := map[slot]bool{}
	for _, b := range bks {
		if b.ext != "" {
			packed[slot{b.index, b.stamp}] = true
		}
	}
	var out []backup
	var acts []Action
	for _, b := range bks {
		if b.ext == "" && packed[slot{b.index, b.stamp}] {
			acts = append(acts, Action{Op: OpDelete, Path: b.path, Bytes: b.size(), Detail: "already compressed by an interrupted run"})
			continue
		}
		out = append(out, b)
	}
	return out, acts
}

// stuckSlack is how long after its rotation a backup may still be written
// to (a signalled writer finishing a line before it reopens) before a live
// log left empty makes the writer count as stuck.
const stuckSlack = time.Minute

// checkStuck looks for a writer that never followed the last rename of
// p's log: a process (seen in the batch's walk of /proc) that has the
// newest backup open for writing, or, where /proc shows no such process
// (a writer in another container), a live log that is empty while the
// newest backup was written to after the recorded rotation. Either is
// reported (FileReport.StuckWriter, a warning) with what to do. A rule with
// a signal signals the writer again.
func (r *Rotator) checkStuck(p *filePlan, store *stateStore, b *batchRun) {
	if p.newest == nil || p.f == nil {
		return
	}
	st, err := p.newest.ent.Info()
	if err != nil || !st.Mode().IsRegular() {
		return
	}
	var pids []string
	for _, o := range b.scan.openers(st, time.Duration(math.MaxInt64)) {
		if o.Writable() {
			pids = append(pids, fmt.Sprintf("pid %d (fd %d)", o.PID, o.FD))
		}
	}
	last, known := store.lastRotated(p.fr.Path)
	base := filepath.Base(p.newest.path)
	switch {
	case len(pids) > 0:
		p.fr.StuckWriter = fmt.Sprintf("%s still writes to %s", strings.Join(pids, ", "), base)
	case known && p.st.Size() == 0 && st.ModTime().After(last.Add(stuckSlack)):
		p.fr.StuckWriter = fmt.Sprintf("%s was written to at %s, after its rotation at %s, and the live log is empty: its writer seems to still write to it",
			base, st.ModTime().Local().Format(time.DateTime), last.Local().Format(time.DateTime))
	default:
		return
	}
	p.fr.StuckWriter += "; it never reopened " + filepath.Base(p.fr.Path) +
		": set signal (the writer's pidfile and the signal that makes it reopen its log) or a postrotate command that does, or use method copytruncate"
	if s := p.rule.Signal; s != nil && len(pids) > 0 && !p.dry {
		detail, err := signalWriter(r.proc(), s, st)
		if err != nil {
			p.fr.StuckWriter += "; signalling it again failed: " + err.Error()
		} else {
			p.fr.StuckWriter += "; signalled it again: " + detail
		}
	}
	r.logger().Warn("writer stuck on a rotated file", "log", p.fr.Path, "backup", p.newest.path, "why", p.fr.StuckWriter)
}
