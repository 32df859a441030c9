package rotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
)

// Rotator rotates log files that other processes write, as logrotate does,
// without logrotate's lost lines.
//
// Each run looks at every file matching each Rule's Path (a glob). A file
// is rotated when it holds at least Size bytes, or when Every has passed
// since its last rotation (whole days compare calendar dates, so a daily
// log rotates on the first run after midnight), or on every run when
// neither is set. Empty files are left alone unless IfEmpty is set. The
// time of each file's last rotation is kept in a JSON state file, written
// atomically after every file; a damaged state file is logged and rebuilt
// (a log without a record counts as first seen, its every clock starting
// with the newest backup's modification time), never a reason to stop.
//
// Backups are named log.1, log.2 ... (log.1 newest), or log-YYYYMMDD with
// DateExt (log-YYYYMMDD-HHMMSS for a second rotation the same day), with
// .gz or .zst appended once compressed. Compressed files are written under
// a temporary name, fsynced and renamed, so a partial .gz is never visible;
// DelayCompress leaves the newest backup plain until the next rotation.
// Keep backups are kept; older ones, and with MaxAge those last written
// longer ago than MaxAge (checked on every run), are deleted. No step ever
// renames over an existing file.
//
// Method Rename moves the live file to its backup, creates a new one (with
// Create's mode and owner) and signals the writer named by Signal's pidfile,
// after checking that the process is alive and still has the rotated file
// open; a missing pidfile or a dead process is reported, not fatal. A
// backup is compressed only once no process has it open for writing (a
// signalled writer may add a few lines to it before it reopens): after a
// few seconds' wait, its compression is deferred to a later run. Method
// CopyTruncate copies the live file's complete lines to the backup, then
// removes that range from the live file with fallocate: collapse-range when
// every writer has the file open with O_APPEND (read from
// /proc/PID/fdinfo), punch-hole when one writes at its own offset, so lines
// written during the copy stay. Only a file system with neither falls back
// to truncating (logrotate's lossy behaviour), with a logged warning.
//
// Two runs never rotate the same file: a run holds an flock on
// State+".lock" while it works, and, while it rotates a log, flocks on the
// log's directory (runs with different state files take turns) and on the
// log itself (a log another program holds an flock on is skipped with
// ErrLocked). Symbolic links, directories and other non-regular files are
// refused. Plan returns the steps a run would take, in the same Report
// shape Rotate fills in.
type Rotator struct {
	// Rules say what is rotated and how.
	Rules []Rule
	// State is the JSON state file ("" keeps state in memory only, so the
	// Every trigger never fires).
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
		return rep, err
	}
	defer store.close()
	var errs *multierror.Error
	seen := map[string]bool{}
	for _, rule := range r.Rules {
		paths, err := expand(ctx, rule, dry)
		if err != nil {
			rep.Files = append(rep.Files, FileReport{Path: rule.Path, Error: err.Error()})
			errs = multierror.Append(errs, err)
			continue
		}
		for _, p := range paths {
			if seen[p] {
				continue // the first rule matching a file wins, as in logrotate
			}
			seen[p] = true
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			fr, err := r.file(ctx, p, rule, store, dry)
			rep.Files = append(rep.Files, fr)
			if err != nil {
				errs = multierror.Append(errs, fmt.Errorf("rotate %s: %w", p, err))
			}
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

// expand lists the live logs a rule matches, skipping backups. A plain
// path is returned as it is (file reports it when missing), unless it is
// missing and may be. A glob that
// matches nothing is tried again holding its directory's lock, in case
// another run was between renaming a log and creating the new one.
func expand(ctx context.Context, rule Rule, dry bool) ([]string, error) {
	if !hasMeta(rule.Path) {
		if _, err := os.Lstat(rule.Path); errors.Is(err, os.ErrNotExist) && rule.MissingOK {
			return nil, nil
		}
		return []string{rule.Path}, nil
	}
	out, err := globLogs(rule)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(rule.Path); len(out) == 0 && !dry && !hasMeta(dir) {
		if unlock, lerr := lockDir(ctx, dir); lerr == nil {
			out, err = globLogs(rule)
			unlock()
			if err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		if rule.MissingOK {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: no such file (set missing_ok to allow)", rule.Path)
	}
	return out, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// globLogs lists the files matching rule.Path that are not backups.
func globLogs(rule Rule) ([]string, error) {
	matches, err := filepath.Glob(rule.Path)
	if err != nil {
		return nil, fmt.Errorf("bad glob %q: %w", rule.Path, err)
	}
	var out []string
	for _, m := range matches {
		if m != rule.Path && isBackupName(filepath.Base(m)) {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// file plans and (unless dry) rotates one live log.
func (r *Rotator) file(ctx context.Context, path string, rule Rule, store *stateStore, dry bool) (FileReport, error) {
	fr := FileReport{Path: path, Method: rule.method()}
	fail := func(err error) (FileReport, error) {
		fr.Error = err.Error()
		return fr, err
	}
	if !dry {
		// Another run may be between renaming the log and creating the
		// new one: look only once it is done.
		unlock, err := lockDir(ctx, filepath.Dir(path))
		if err != nil {
			return fail(err)
		}
		defer unlock()
	}
	lst, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && rule.MissingOK:
		fr.Reason = "missing (missing_ok)"
		return fr, nil
	case errors.Is(err, os.ErrNotExist):
		return fail(fmt.Errorf("no such file (set missing_ok to allow)"))
	case err != nil:
		return fail(err)
	case lst.Mode()&os.ModeSymlink != 0:
		return fail(fmt.Errorf("is a symbolic link: rotate the file it points to instead"))
	case lst.IsDir():
		return fail(fmt.Errorf("is a directory, not a log file"))
	case !lst.Mode().IsRegular():
		return fail(fmt.Errorf("is not a regular file (%s)", lst.Mode().Type()))
	}
	var f *os.File
	st := lst
	if dry {
		f, err = os.Open(path)
	} else {
		f, st, err = openLocked(path)
	}
	if err != nil {
		return fail(err)
	}
	defer f.Close()

	size := st.Size()
	if rule.method() == CopyTruncate && sparse(st) {
		size -= dataStart(f, size)
	}
	now := r.now()
	bks, err := listBackups(path, rule.DateExt)
	if err != nil {
		return fail(err)
	}
	last, known := store.lastRotated(path)
	if !known && len(bks) > 0 {
		// Self-healing: no record (new or damaged state) but backups on
		// disk: the newest one was last written when it was rotated.
		newest := bks[0]
		for _, b := range bks {
			if b.mtime.After(newest.mtime) {
				newest = b
			}
		}
		last, known = newest.mtime, true
	}
	fr.Rotate, fr.Reason = decide(rule, size, last, known, now, r.Force)
	var temps []Action
	for _, tmp := range listTemps(path) {
		temps = append(temps, Action{Op: OpDelete, Path: tmp, Detail: "left by an interrupted run"})
	}
	if !fr.Rotate {
		fr.Actions = append(temps, planRetention(rule, bks, now)...)
		if dry {
			return fr, nil
		}
		err := r.apply(ctx, &fr, rule, nil)
		if _, had := store.lastRotated(path); !had {
			err = errors.Join(err, store.set(path, last0(last, known, now)))
		}
		return fr, err
	}
	fr.Actions, err = planRotation(path, rule, bks, now, size, exists)
	if err != nil {
		return fail(err)
	}
	fr.Actions = append(temps, fr.Actions...)
	if dry {
		return fr, nil
	}
	err = r.apply(ctx, &fr, rule, st)
	if !moved(fr) {
		fr.Rotate = false // nothing was taken away: try again next run
		return fr, err
	}
	if serr := store.set(path, now); serr != nil {
		fr.Error = serr.Error()
		err = errors.Join(err, serr)
	}
	return fr, err
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

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
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
