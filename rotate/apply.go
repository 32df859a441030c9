package rotate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// apply carries out fr.Actions[from:] in order, recording each step's
// outcome. A failed shift, rename, copy or drop stops the file's remaining
// steps (so nothing is renamed over or dropped that was not saved); failed
// deletes, compressions and signals are recorded and the rest goes on.
// With untilCompress set it returns at the first compression still to do
// (the batch compresses in parallel, after one walk of /proc) and says
// where it stopped; otherwise next is len(fr.Actions).
func (r *Rotator) apply(ctx context.Context, fr *FileReport, rule Rule, st os.FileInfo, cp *cutPlan, jr *journal, b *batchRun, from int, untilCompress bool) (next int, err error) {
	var errs *multierror.Error
	log := r.logger()
	var live *os.File // copytruncate: the live log, read-write
	defer func() {
		if live != nil {
			live.Close()
		}
	}()
	var rotated os.FileInfo // rename: the rotated inode, under its backup name
	stop := false
	for i := from; i < len(fr.Actions); i++ {
		a := &fr.Actions[i]
		if stop {
			a.Error = "skipped: an earlier step failed"
			continue
		}
		if a.Op == OpCompress && untilCompress {
			return i, errs.ErrorOrNil()
		}
		if err := ctx.Err(); err != nil {
			a.Error = err.Error()
			errs = multierror.Append(errs, err)
			stop = true
			continue
		}
		crashPoint("before " + string(a.Op))
		var err error
		switch a.Op {
		case OpDelete:
			err = os.Remove(a.Path)
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		case OpShift:
			err = renameNoReplace(a.Path, a.To)
			stop = err != nil
		case OpRename:
			if err = renameNoReplace(a.Path, a.To); err == nil {
				rotated, _ = os.Lstat(a.To)
			}
			stop = err != nil
		case OpCreate:
			a.Detail, err = createLive(a.Path, rule.Create, st)
		case OpSignal:
			a.Detail, err = signalWriter(r.proc(), rule.Signal, rotated)
			if err != nil {
				log.Warn("writer not signalled", "log", fr.Path, "err", err)
			}
		case OpCopy:
			live, err = openLive(a.Path, st)
			if err == nil {
				cp.extend(live)
				// The copy's SHA-256 goes to the journal before the copy
				// gets its name: a later run that finds a backup with that
				// sum knows the range was copied.
				record := func(sum, restSum string) error {
					return jr.record([]intent{{Path: fr.Path, Method: MethodCopyTruncate, Backup: a.To,
						Start: cp.start, Cut: cp.cut, Aligned: cp.aligned, Sum: sum, RestSum: restSum}})
				}
				a.Compressed, err = copyLive(ctx, live, a.To, rule.codec(), cp.start, cp.cut, cp.aligned, record)
				a.Bytes = cp.cut - cp.start
			}
			stop = err != nil
		case OpDrop:
			// A walk of /proc up to a second old: a writer that opens the
			// log in that second without O_APPEND (rare) may leave a hole
			// of NULs after a collapse, never a lost line.
			writers := b.scan.openers(st, dropScanAge)
			a.Bytes = cp.cut
			a.Detail, err = dropCopied(live, cp.cut, writers, log, unix.Fallocate)
			if err == nil {
				a.Detail = fmt.Sprintf("%s; %d writer(s)", a.Detail, countWritable(writers))
			}
		case OpPostRotate:
			backup := ""
			for _, b := range fr.Actions {
				if (b.Op == OpRename || b.Op == OpCopy) && b.Error == "" {
					backup = b.To
				}
			}
			a.Detail, err = runCommand(ctx, rule.PostRotate, fr.Path, backup)
		case OpCompress:
			if busy := r.waitUnwritten(ctx, a.Path, &b.scan); busy != "" {
				// Compressing now would lose what the writer still adds:
				// leave the backup plain for a later run.
				a.Bytes, a.Detail = 0, a.Detail+", deferred: "+busy
				log.Warn("backup still open for writing, compression deferred to a later run", "path", a.Path, "why", busy)
				continue
			}
			a.Bytes, a.Compressed, err = compressFile(ctx, a.Path, a.To, Compression(a.Detail), true)
			if err == nil {
				b.removeLater(fr, i)
			}
			if errors.Is(err, os.ErrExist) {
				// A run killed after the rename of the compressed file but
				// before removing the plain one: the compressed one is whole.
				err = os.Remove(a.Path)
				a.Bytes, a.Compressed = 0, 0
				a.Detail += ", already compressed: removed the plain copy"
			}
		}
		if err != nil {
			a.Error = err.Error()
			errs = multierror.Append(errs, fmt.Errorf("%s %s: %w", a.Op, a.Path, err))
		} else {
			log.Debug("rotate step", "op", a.Op, "path", a.Path, "to", a.To, "detail", a.Detail)
		}
	}
	return len(fr.Actions), errs.ErrorOrNil()
}

// dropScanAge is how old a walk of /proc may be when a copytruncate
// chooses how to drop the copied range (collapse with O_APPEND writers
// only, punch otherwise).
const dropScanAge = time.Second

// openLive opens the live log read-write for copytruncate, checking it is
// the inode that was locked and planned.
func openLive(path string, st os.FileInfo) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	fst, err := f.Stat()
	if err == nil && st != nil && !sameFile(fst, st) {
		err = fmt.Errorf("%s was replaced during the rotation", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// createLive makes the new, empty live log after a rename: O_EXCL (a writer
// that already reopened it wins), with c's mode and owner, or the rotated
// file's where c leaves them unset.
func createLive(path string, c *Create, old os.FileInfo) (string, error) {
	mode := old.Mode().Perm()
	uid, gid := -1, -1
	if s, ok := old.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(s.Uid), int(s.Gid)
	}
	if c.Mode != 0 {
		mode = c.Mode.Perm()
	}
	if c.UID >= 0 {
		uid = c.UID
	}
	if c.GID >= 0 {
		gid = c.GID
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, mode)
	if errors.Is(err, os.ErrExist) {
		return "already recreated by the writer", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	// Change only what the umask or the creating user got wrong: a chown
	// is a journaled metadata write, thousands of them show.
	var now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &now); err != nil {
		return "", err
	}
	if os.FileMode(now.Mode).Perm() != mode {
		if err := f.Chmod(mode); err != nil {
			return "", err
		}
	}
	if (uid >= 0 && uint32(uid) != now.Uid) || (gid >= 0 && uint32(gid) != now.Gid) {
		if err := f.Chown(uid, gid); err != nil {
			return "", fmt.Errorf("chown %d:%d: %w", uid, gid, err)
		}
	}
	return fmt.Sprintf("mode %#o, uid %d, gid %d", mode, uid, gid), nil
}

func countWritable(ws []opener) int {
	n := 0
	for _, w := range ws {
		if w.Writable() {
			n++
		}
	}
	return n
}

// statBlocks returns the 512-byte blocks allocated to a file.
func statBlocks(st os.FileInfo) (int64, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return s.Blocks, true
}

// compressWait is how long a compression waits for the writers of a
// backup (a signalled process reopening its log) to let go of it.
const compressWait = 3 * time.Second

// waitUnwritten waits until no other process has path open for writing,
// and says who still has it when compressWait (or ctx) runs out. A writer
// told to reopen its log may write to the renamed file for a moment:
// compressing and removing it then would lose those lines. The first look
// uses the batch's walk of /proc (made after its renames and signals);
// each later one a walk at most a poll old, shared by every waiting file.
func (r *Rotator) waitUnwritten(ctx context.Context, path string, scan *procScan) string {
	st, err := os.Lstat(path)
	if err != nil {
		return "" // the compression reports it
	}
	wait := r.compressWait
	if wait == 0 {
		wait = compressWait
	}
	deadline := time.Now().Add(wait)
	age := time.Duration(math.MaxInt64)
	for {
		var pids []string
		for _, o := range scan.openers(st, age) {
			if o.Writable() {
				pids = append(pids, strconv.Itoa(o.PID))
			}
		}
		if len(pids) == 0 {
			return ""
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "still open for writing by pid " + strings.Join(pids, ", ")
		}
		time.Sleep(compressPoll)
		age = compressPoll
	}
}

// compressPoll is how often a compression waiting for a backup's writers
// looks again.
const compressPoll = 10 * time.Millisecond
