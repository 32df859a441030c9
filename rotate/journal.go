package rotate

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The journal records what a run is about to do to each log before the
// first step, so that the next run can finish or undo a rotation that a
// kill interrupted. It lives next to the state file (State+".journal"),
// one JSON array of intents per line, each line written and fsynced
// before any of its steps starts; a torn last line is one whose steps
// never started. The run removes it once the state file records the
// rotations.

// intent is one log's planned rotation, as the journal records it.
type intent struct {
	Path   string    `json:"path"`
	Method Method    `json:"method"`
	Dev    uint64    `json:"dev"`
	Ino    uint64    `json:"ino"`
	Time   time.Time `json:"time"`
	// Backup is where the live log's contents go: the first backup of a
	// rename, the copy of a copytruncate.
	Backup string `json:"backup"`

	// MethodRename: the new file and the writer to signal.
	Create  *Create `json:"create,omitempty"`
	Pidfile string  `json:"pidfile,omitempty"`
	Signal  int     `json:"signal,omitempty"`

	// MethodCopyTruncate: the copied range [Start, Cut), its SHA-256, and when
	// the drop may fall back to collapsing whole blocks and punching the
	// rest, the start of that rest and its SHA-256.
	Start   int64  `json:"start,omitempty"`
	Cut     int64  `json:"cut,omitempty"`
	Sum     string `json:"sum,omitempty"`
	Aligned int64  `json:"aligned,omitempty"`
	RestSum string `json:"rest_sum,omitempty"`
}

// journal appends intents to the journal file.
type journal struct {
	path string
	f    *os.File
	// recovered holds the logs whose interrupted rotation this run
	// finished (their writer was just signalled: not stuck).
	recovered map[string]bool
}

func journalPath(state string) string { return state + ".journal" }

// record appends one batch of intents and fsyncs it (and, the first time,
// the directory that holds the new file).
func (j *journal) record(batch []intent) error {
	if len(batch) == 0 || j.path == "" {
		return nil
	}
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
		j.f = f
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
	}
	enc := make([]intent, len(batch))
	for i, in := range batch {
		in.Path, in.Backup, in.Pidfile = encodePath(in.Path), encodePath(in.Backup), encodePath(in.Pidfile)
		enc[i] = in
	}
	b, err := json.Marshal(enc)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

// finish closes and removes the journal: every intent in it is done and
// recorded in the state file.
func (j *journal) finish() error {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	if j.path == "" {
		return nil
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

func (j *journal) close() {
	if j.f != nil {
		j.f.Close()
	}
}

// readJournal returns the intents of a journal file; a torn or garbled
// line (a write that never finished, so its steps never started) ends it.
func readJournal(path string, log *slog.Logger) []intent {
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("rotation journal unreadable", "path", path, "err", err)
		}
		return nil
	}
	defer f.Close()
	var out []intent
	rd := bufio.NewReader(io.LimitReader(f, 64<<20))
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			break // no newline: torn
		}
		var batch []intent
		if json.Unmarshal(line, &batch) != nil {
			log.Warn("rotation journal has a damaged line, ignoring the rest", "path", path)
			break
		}
		for _, in := range batch {
			in.Path, in.Backup, in.Pidfile = decodePath(in.Path), decodePath(in.Backup), decodePath(in.Pidfile)
			out = append(out, in)
		}
	}
	return out
}

// recover finishes (or leaves undone) the rotations a killed run
// journaled, and returns the logs whose rotation happened, with its time,
// for the state file.
func (r *Rotator) recover(ctx context.Context, intents []intent) (map[string]time.Time, []FileReport) {
	done := map[string]time.Time{}
	var reps []FileReport
	for _, in := range mergeIntents(intents) {
		if ctx.Err() != nil {
			break
		}
		unlock, err := lockDir(ctx, filepath.Dir(in.Path))
		if err != nil {
			reps = append(reps, FileReport{Path: in.Path, Method: in.Method, Reason: "recovering an interrupted rotation", Error: err.Error()})
			continue
		}
		fr := FileReport{Path: in.Path, Method: in.Method, Reason: "finishing a rotation interrupted at " + in.Time.Local().Format(time.DateTime)}
		var moved bool
		switch in.Method {
		case MethodCopyTruncate:
			moved = r.recoverCopy(in, &fr)
		default:
			moved = r.recoverRename(in, &fr)
		}
		unlock()
		if moved {
			done[in.Path] = in.Time
		}
		if len(fr.Actions) > 0 || fr.Error != "" {
			reps = append(reps, fr)
		}
	}
	return done, reps
}

// mergeIntents folds the records of one log into one intent, in the
// order of first appearance: a copy's SHA-256 is recorded after its plan.
func mergeIntents(list []intent) []intent {
	at := map[string]int{}
	var out []intent
	for _, in := range list {
		i, ok := at[in.Path]
		if !ok {
			at[in.Path] = len(out)
			out = append(out, in)
			continue
		}
		m := &out[i]
		if in.Sum != "" {
			m.Sum, m.RestSum, m.Backup = in.Sum, in.RestSum, in.Backup
			m.Start, m.Cut, m.Aligned = in.Start, in.Cut, in.Aligned
		}
	}
	return out
}

// recoverRename: if the live log was renamed (its inode is under the
// backup name), make the new file if it is missing and signal the writer
// if it still has the rotated file open; otherwise nothing had happened
// that needs finishing (shifts leave at most a gap, closed by the plan).
func (r *Rotator) recoverRename(in intent, fr *FileReport) bool {
	st, err := os.Lstat(in.Backup)
	if err != nil || !sameInode(st, in.Dev, in.Ino) {
		return false
	}
	if in.Create != nil {
		if _, err := os.Lstat(in.Path); errors.Is(err, os.ErrNotExist) {
			a := Action{Op: OpCreate, Path: in.Path}
			a.Detail, err = createLive(in.Path, in.Create, st)
			if err != nil {
				a.Error = err.Error()
			}
			fr.Actions = append(fr.Actions, a)
		}
	}
	if in.Pidfile != "" {
		s := &Signal{Pidfile: in.Pidfile}
		if in.Signal != 0 {
			s.Signal = syscall.Signal(in.Signal)
		}
		a := Action{Op: OpSignal, Path: in.Pidfile}
		a.Detail, err = signalWriter(r.proc(), s, st)
		switch {
		case errors.Is(err, ErrNoWriter):
			a.Detail = "not needed: " + err.Error()
		case err != nil:
			a.Error = err.Error()
		}
		fr.Actions = append(fr.Actions, a)
	}
	fr.Rotate = true
	return true
}

// recoverCopy: if the copy reached its backup name and the copied range
// is still in the live log, drop it now (the copy is whole: it was
// renamed into place after an fsync); if only the whole blocks were
// collapsed, punch the rest. A copy that never reached its name is
// undone by deleting its temporary file (the plan does that).
func (r *Rotator) recoverCopy(in intent, fr *FileReport) bool {
	if in.Sum == "" || backupSum(in.Backup) != in.Sum {
		// No copy under that name (an older backup not shifted yet is
		// not it): nothing was taken from the live log.
		return false
	}
	fr.Rotate = true
	f, err := os.OpenFile(in.Path, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return true // the live log is gone: nothing is duplicated
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !sameInode(st, in.Dev, in.Ino) {
		return true
	}
	a := Action{Op: OpDrop, Path: in.Path}
	switch {
	case rangeSum(f, in.Start, in.Cut) == in.Sum:
		a.Bytes = in.Cut
		a.Detail, err = dropCopied(f, in.Cut, r.proc().openers(st), r.logger(), unix.Fallocate)
	case in.RestSum != "" && rangeSum(f, 0, in.Cut-in.Aligned) == in.RestSum:
		a.Bytes = in.Cut - in.Aligned
		err = punch(unix.Fallocate, int(f.Fd()), in.Cut-in.Aligned)
		a.Detail = fmt.Sprintf("punch-hole %d bytes (the whole blocks were collapsed)", a.Bytes)
	default:
		return true // dropped before the kill
	}
	if err != nil {
		a.Error = err.Error()
	}
	fr.Actions = append(fr.Actions, a)
	return true
}

// crashPoint is called at each point of a run where a kill would leave
// something to finish; tests set it to kill the process there.
var crashPoint = func(string) {}

// rangeSum is the hex SHA-256 of [start, end) of f ("" if unreadable).
func rangeSum(f *os.File, start, end int64) string {
	if end < start {
		return ""
	}
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, start, end-start))
	if err != nil || n != end-start {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// backupSum is the hex SHA-256 of a backup's (decompressed) contents.
func backupSum(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	_, ext := splitCodec(path)
	rd, err := newDecoder(Compression(strings.TrimPrefix(ext, ".")), f)
	if err != nil {
		return ""
	}
	h := sha256.New()
	if _, err := io.Copy(h, rd); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sameInode(st os.FileInfo, dev, ino uint64) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && uint64(s.Dev) == dev && s.Ino == ino
}

func inodeOf(st os.FileInfo) (dev, ino uint64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), s.Ino
	}
	return 0, 0
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}
