package rotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// Rotator rotates log files that other processes write, as logrotate does,
// without logrotate's lost lines.
//
// Each run looks at every file matching each Rule's Path (a glob). A file
// is rotated when it holds at least Size bytes, or when Every has passed
// since its last rotation (whole days compare calendar dates, so a daily
// log rotates on the first run after midnight), or on every run when
// neither is set. Empty files are left alone unless IfEmpty is set. A run
// reads each log directory once (all the logs a glob matches there are
// planned from that one listing) and writes the JSON state file, the time
// of each file's last rotation, once at its end, atomically. A damaged
// state file is logged and rebuilt (a log without a record counts as first
// seen, its every clock starting with the newest backup's modification
// time), never a reason to stop; a state file that cannot be locked or
// written is: the run rotates nothing and fails (Report.Error).
//
// Crash safety: before the first step of a batch of rotations the run
// appends their intents (the live log's inode, where its contents go, the
// copied range and its SHA-256) to a journal next to the state file and
// fsyncs it. The next run reads the journal first and finishes what a
// kill interrupted: a rename whose writer was never signalled is signalled
// (if the writer still has the renamed file open) and its new file
// created; a copy that reached its backup name but whose range is still
// in the live log (same bytes, same SHA-256) has that range dropped; a
// copy that never reached its name is deleted. Every other step is safe to
// redo or leaves at most a gap in the backup numbers, which every run
// closes by renumbering, so kills never reduce what Keep retains.
//
// Backups are named log.1, log.2 ... (log.1 newest), or log-YYYYMMDD with
// DateExt (log-YYYYMMDD-HHMMSS for a second rotation the same day), with
// .gz or .zst appended once compressed. Compressed files are written under
// a temporary name, fsynced and renamed, so a partial .gz is never visible;
// DelayCompress leaves the newest backup plain until the next rotation. A
// compression that failed (a full disk) or was deferred is retried on the
// next run, rotating or not; compressions stop when ctx is done. Keep
// backups are kept (0 none, KeepAll every one); older ones, and with
// MaxAge those last written longer ago than MaxAge (checked on every run),
// are deleted. No step ever renames over an existing file.
//
// Method MethodRename moves the live file to its backup, creates a new one
// (with Create's mode and owner) and signals the writer named by Signal's
// pidfile, after checking that the process is alive and still has the
// rotated file open; a missing pidfile or a dead process is reported, not
// fatal. A backup is compressed only once no process has it open for
// writing (a signalled writer may add a few lines to it before it
// reopens): after a few seconds' wait, its compression is deferred to a
// later run. Method MethodCopyTruncate copies whole lines of the live
// file to the backup, then removes exactly that range from the live file
// with fallocate, so lines written during the copy stay. When every writer
// has the file open with O_APPEND (read from /proc/PID/fdinfo) and the
// file system can collapse ranges (ext4, xfs), the copy ends at the last
// line end that falls on a block boundary and collapse-range removes it:
// the live log then starts with a whole line, no NULs (the lines after
// that boundary stay for the next rotation). On a file system that can
// only punch holes (tmpfs) the copy takes every whole line there is when
// it starts and, with O_APPEND writers, a log still that size at the drop
// is truncated (no NULs; only a write between the size check and the
// truncate, two system calls apart, could be lost). A writer at its own
// offset (no O_APPEND), a tmpfs log that grew since the copy, or a log in
// which no line ends on a block boundary get punch-hole: nothing is lost,
// but the punched range reads as NULs until the next rotation copies past
// it (the Drop step's Detail says so). Only a file system with neither
// falls back to truncating (logrotate's lossy behaviour), with a logged
// warning. PostRotate runs a command after each rotation.
//
// Writers are found in /proc, walked once per batch of logs (the drops of
// copytruncate accept a walk up to a second old; compressions waiting for
// a signalled writer share a walk every 10 ms). A rename whose writer never
// reopened the live log (it still has the newest backup open for writing,
// or the live log is empty while that backup was written to after its
// rotation) is reported in FileReport.StuckWriter and logged; with Signal
// set the writer is signalled again. Compressions run on every core.
//
// Two runs never rotate the same file: a run holds an flock on
// State+".lock" while it works, and flocks each log directory while it
// plans and rotates the logs there (runs with different state files take
// turns); a log another program holds an flock on is skipped with
// ErrLocked. Symbolic links, directories and other non-regular files are
// refused. Plan returns the steps a run would take, in the same Report
// shape Rotate fills in.
type Rotator struct {
	// Rules say what is rotated and how.
	Rules []Rule
	// State is the JSON state file ("" keeps state in memory only, so the
	// Every trigger never fires and no journal is kept); the journal is
	// State+".journal", the lock State+".lock".
	State string
	// Force rotates every non-empty matching log, as logrotate -f.
	Force bool
	// Logger receives warnings and progress (nil = discard).
	Logger *slog.Logger
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Proc is where /proc is mounted ("" = "/proc").
	Proc string

	compressWait time.Duration // 0 = the constant compressWait; for tests
}

// Plan returns what Rotate would do now, changing nothing (dry run).
func (r *Rotator) Plan(ctx context.Context) (*Report, error) { return r.run(ctx, true) }

// Rotate rotates the logs that are due and reports every step. Failures of
// single logs are collected; the report covers everything attempted.
func (r *Rotator) Rotate(ctx context.Context) (*Report, error) { return r.run(ctx, false) }

func (r *Rotator) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Rotator) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Rotator) proc() procFS {
	if r.Proc == "" {
		return "/proc"
	}
	return procFS(r.Proc)
}

func (r *Rotator) run(ctx context.Context, dry bool) (*Report, error) {
	rep := &Report{DryRun: dry, Files: []FileReport{}}
	for _, rule := range r.Rules {
		if err := rule.validate(); err != nil {
			return rep, err
		}
	}
	log := r.logger()
	var store *stateStore
	var err error
	if dry {
		store, err = readState(r.State, log)
	} else {
		store, err = openState(ctx, r.State, log)
	}
	if err != nil {
		// Without its state a run cannot record (or journal) what it does:
		// it rotates nothing and fails.
		rep.Error = err.Error()
		return rep, err
	}
	defer store.close()
	var errs *multierror.Error
	jr := &journal{}
	defer jr.close()
	if !dry && r.State != "" {
		jr.path = journalPath(r.State)
		if intents := readJournal(jr.path, log); len(intents) > 0 {
			done, reps := r.recover(ctx, intents)
			jr.recovered = map[string]bool{}
			for p, t := range done {
				store.put(p, t)
				jr.recovered[p] = true
			}
			for _, fr := range reps {
				rep.Files = append(rep.Files, fr)
				if fr.failed() {
					errs = multierror.Append(errs, fmt.Errorf("finish the interrupted rotation of %s: %s", fr.Path, fr.firstError()))
				}
			}
			// Record what was finished and start a fresh journal, so that
			// this run's records never mix with the killed run's.
			if err := store.save(); err != nil {
				rep.Error = err.Error()
				return rep, multierror.Append(errs, err).ErrorOrNil()
			}
		}
		if err := jr.finish(); err != nil {
			rep.Error = err.Error()
			return rep, multierror.Append(errs, err).ErrorOrNil()
		}
	}
	seen := map[string]bool{}
	for _, rule := range r.Rules {
		if err := r.rule(ctx, rule, store, jr, dry, seen, rep, &errs); err != nil {
			return r.end(rep, store, jr, dry, errs, err)
		}
	}
	return r.end(rep, store, jr, dry, errs, nil)
}

// end saves the state once (then drops the journal it now covers) and
// returns the report with every error.
func (r *Rotator) end(rep *Report, store *stateStore, jr *journal, dry bool, errs *multierror.Error, stop error) (*Report, error) {
	if stop != nil {
		errs = multierror.Append(errs, stop)
	}
	if !dry {
		crashPoint("before saving the state")
		if err := store.save(); err != nil {
			rep.Error = err.Error()
			errs = multierror.Append(errs, err)
		} else if err := jr.finish(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	return rep, errs.ErrorOrNil()
}

// readState loads the state without locking or writing, for a dry run.
func readState(path string, log *slog.Logger) (*stateStore, error) {
	s := &stateStore{}
	b, err := os.ReadFile(path)
	if path != "" && err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("state file unreadable", "path", path, "err", err)
	}
	s.state, err = parseState(b)
	if err != nil {
		log.Warn("state file damaged, it would be rebuilt", "path", path, "err", err)
	}
	return s, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// batchSize bounds the logs planned (and held open and locked) together,
// journaled with one fsync: a quarter of the open files this process may
// have (so 5,000 logs under a limit of 1,024 take 20 batches, not an
// EMFILE for every log past the limit), at most 100,000.
func batchSize() int {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur == unix.RLIM_INFINITY {
		return 100000
	}
	return int(max(16, min(100000, lim.Cur/4)))
}

// rule rotates the logs one rule matches, directory by directory: each
// directory is locked and read once, its logs planned from that listing,
// journaled and rotated in batches. A stop error (ctx) ends the run.
func (r *Rotator) rule(ctx context.Context, rule Rule, store *stateStore, jr *journal, dry bool, seen map[string]bool, rep *Report, errs **multierror.Error) error {
	dirs := []string{filepath.Dir(rule.Path)}
	if hasMeta(dirs[0]) {
		var err error
		if dirs, err = filepath.Glob(dirs[0]); err != nil {
			return r.ruleError(rule, fmt.Errorf("bad glob %q: %w", rule.Path, err), rep, errs)
		}
	}
	pattern := filepath.Base(rule.Path)
	if _, err := filepath.Match(pattern, ""); err != nil {
		return r.ruleError(rule, fmt.Errorf("bad glob %q: %w", rule.Path, err), rep, errs)
	}
	matched := 0
	for _, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.directory(ctx, dir, pattern, rule, store, jr, dry, seen, rep, errs)
		matched += n
		if err != nil {
			return err
		}
	}
	if matched == 0 && !rule.MissingOK {
		if !hasMeta(rule.Path) {
			fr := FileReport{Path: rule.Path, Method: rule.method(), Error: "no such file (set missing_ok to allow)"}
			rep.Files = append(rep.Files, fr)
			*errs = multierror.Append(*errs, fmt.Errorf("rotate %s: %s", rule.Path, fr.Error))
			return nil
		}
		return r.ruleError(rule, fmt.Errorf("%s: no such file (set missing_ok to allow)", rule.Path), rep, errs)
	}
	return nil
}

func (r *Rotator) ruleError(rule Rule, err error, rep *Report, errs **multierror.Error) error {
	rep.Files = append(rep.Files, FileReport{Path: rule.Path, Method: rule.method(), Error: err.Error()})
	*errs = multierror.Append(*errs, err)
	return nil
}

// directory handles the logs in dir matching pattern and returns how many
// matched. Only a done ctx is returned as an error; the rest is reported.
func (r *Rotator) directory(ctx context.Context, dir, pattern string, rule Rule, store *stateStore, jr *journal, dry bool, seen map[string]bool, rep *Report, errs **multierror.Error) (int, error) {
	if !dry {
		// Another run may be between renaming a log and creating the new
		// one: look only once it is done.
		unlock, err := lockDir(ctx, dir)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return 0, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, r.ruleError(rule, err, rep, errs)
		}
		defer unlock()
	}
	x, err := readDirIndex(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return 0, nil
		}
		return 0, r.ruleError(rule, fmt.Errorf("list %s: %w", dir, err), rep, errs)
	}
	var logs []string
	if !hasMeta(pattern) {
		if _, ok := x.names[pattern]; ok {
			logs = append(logs, filepath.Join(dir, pattern))
		}
	} else {
		for _, e := range x.ents {
			if ok, _ := filepath.Match(pattern, e.Name()); ok && !isBackupName(e.Name()) {
				logs = append(logs, filepath.Join(dir, e.Name()))
			}
		}
	}
	matched := len(logs)
	size := batchSize()
	for len(logs) > 0 {
		n := min(len(logs), size)
		if err := r.batch(ctx, logs[:n], rule, x, store, jr, dry, seen, rep, errs); err != nil {
			return 0, err
		}
		logs = logs[n:]
	}
	return matched, nil
}

// batch plans logs, journals the rotations among them with one fsync,
// then carries them out.
func (r *Rotator) batch(ctx context.Context, logs []string, rule Rule, x *dirIndex, store *stateStore, jr *journal, dry bool, seen map[string]bool, rep *Report, errs **multierror.Error) error {
	var plans []*filePlan
	defer func() {
		for _, p := range plans {
			p.close()
		}
	}()
	b := &batchRun{scan: procScan{p: r.proc()}}
	var intents []intent
	for _, path := range logs {
		if seen[path] {
			continue // the first rule matching a file wins, as in logrotate
		}
		seen[path] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		p := r.planFile(path, rule, x, store, dry)
		if !jr.recovered[path] {
			r.checkStuck(p, store, b)
		}
		plans = append(plans, p)
		if p.in != nil {
			intents = append(intents, *p.in)
		}
	}
	if !dry {
		if err := jr.record(intents); err != nil {
			// Unrecorded intent: no step may start.
			for _, p := range plans {
				if p.in != nil {
					p.fr.Rotate, p.fr.Error, p.in = false, "not rotated: "+err.Error(), nil
					p.fr.Actions = nil
				}
			}
			*errs = multierror.Append(*errs, err)
		}
	}
	for _, p := range plans {
		if p.in != nil && p.in.Method == MethodCopyTruncate {
			// Walk /proc now, not between a copy and its drop: the less
			// time passes there, the likelier a log without
			// collapse-range is still idle and is truncated (no NULs).
			b.scan.get(dropScanAge)
			break
		}
	}
	var tails []*filePlan
	for _, p := range plans {
		var err error
		if p.err != nil {
			err = p.err
		} else if p.fr.Error != "" {
			err = errors.New(p.fr.Error)
		} else if !dry {
			err = r.execute(ctx, p, store, jr, b)
			if p.next < len(p.fr.Actions) {
				tails = append(tails, p)
			}
		}
		if err != nil {
			p.errs = append(p.errs, err)
		}
	}
	if len(tails) > 0 {
		r.finishAll(ctx, tails, jr, b)
	}
	for _, p := range plans {
		rep.Files = append(rep.Files, p.fr)
		for _, err := range p.errs {
			*errs = multierror.Append(*errs, fmt.Errorf("rotate %s: %w", p.fr.Path, err))
		}
	}
	return nil
}

// finishAll compresses the batch's backups (and takes the steps after
// each compression) on every core: one walk of /proc, made now that the
// batch's renames and signals are done, says which backups no process
// writes to any more. The originals go last, after one fsync of each
// directory has put the compressed files' names on disk.
func (r *Rotator) finishAll(ctx context.Context, tails []*filePlan, jr *journal, b *batchRun) {
	b.scan.get(0)
	work := make(chan *filePlan)
	var wg sync.WaitGroup
	for range min(len(tails), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for p := range work {
				if err := r.finish(ctx, p, jr, b); err != nil {
					p.errs = append(p.errs, err)
				}
			}
		})
	}
	for _, p := range tails {
		work <- p
	}
	close(work)
	wg.Wait()
	for p, errs := range b.removeOriginals(tails) {
		p.errs = append(p.errs, errs...)
	}
}

// batchRun is what the logs of one batch share while it is carried out:
// the walks of /proc, and the compressed backups whose originals are
// removed once their directory is fsynced.
type batchRun struct {
	scan      procScan
	mu        sync.Mutex
	originals map[*FileReport][]int // compress actions done
}

// removeLater notes that fr.Actions[i], a compression, left its original.
func (b *batchRun) removeLater(fr *FileReport, i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.originals == nil {
		b.originals = map[*FileReport][]int{}
	}
	b.originals[fr] = append(b.originals[fr], i)
}

// removeOriginals fsyncs the directories of the compressed backups, then
// removes their originals, and returns the failures by plan.
func (b *batchRun) removeOriginals(plans []*filePlan) map[*filePlan][]error {
	dirs := map[string]bool{}
	for _, p := range plans {
		for _, i := range b.originals[&p.fr] {
			dirs[filepath.Dir(p.fr.Actions[i].To)] = true
		}
	}
	for d := range dirs {
		_ = syncDir(d) // best effort, as atomicfile's: the files are whole
	}
	out := map[*filePlan][]error{}
	for _, p := range plans {
		for _, i := range b.originals[&p.fr] {
			a := &p.fr.Actions[i]
			crashPoint("compressed, before removing the original")
			if err := os.Remove(a.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				a.Error = "remove the original: " + err.Error()
				out[p] = append(out[p], fmt.Errorf("%s %s: remove the original: %w", a.Op, a.Path, err))
			}
		}
	}
	return out
}

func last0(last time.Time, known bool, now time.Time) time.Time {
	if known {
		return last
	}
	return now
}

func sparse(st os.FileInfo) bool {
	blocks, ok := statBlocks(st)
	return ok && blocks*512 < st.Size()
}

// moved reports whether the live log's contents went to a backup.
func moved(fr FileReport) bool {
	for _, a := range fr.Actions {
		if (a.Op == OpRename || a.Op == OpCopy) && a.Error == "" {
			return true
		}
	}
	return false
}
