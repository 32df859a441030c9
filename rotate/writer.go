package rotate

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Writer is an io.WriteCloser that writes to Filename and rotates it
// itself, for Go programs (lumberjack's use case) without its stalls.
//
// A Write that would take the file past MaxSize bytes, or the first Write
// once Every has passed since the file was opened, first rotates: the file
// is renamed to a backup name in the same directory, NAME-TIMESTAMP.EXT
// (app.log -> app-2006-01-02T15-04-05.000.log, UTC; a -1, -2 ... suffix
// if that name is taken, never overwriting), and a new file is created
// with O_EXCL|O_APPEND and Mode. Nothing is ever opened with O_TRUNC and
// nothing is flushed or closed inside Write: the old file is closed,
// compressed (Compress: .gz or .zst, written under a temporary name and
// renamed) and old backups pruned by one background goroutine, so a Write
// that rotates costs a rename and an open. The goroutine starts with the
// first rotation and Close waits for its backlog; at most Backlog rotated
// files wait for it (more are closed inside Write and left for the next
// pass).
//
// MaxBackups backups are kept, newest first, as Rule.Keep and logrotate's
// rotate: 0 keeps none, KeepAll (-1) keeps every one. The bound holds while
// the background goroutine is busy: a rotation that takes the backups past
// MaxBackups deletes the oldest (from a third goroutine, never inside
// Write), so at most MaxBackups backups exist plus the one being
// compressed. Backups older than MaxAge (by the time in their name) or
// beyond MaxTotalBytes (newest kept first) are deleted too; zero values of
// those two keep everything. Compression runs on its own OS thread at
// the lowest CPU priority (nice 19), so a busy machine's writers get the
// CPU first. OnRotate is called from the background goroutine with each
// backup once it is final. An existing Filename is appended to.
//
// A rotation that fails (no inodes, no permission, a full disk) never
// stops the writing: the Write that tried it writes to the current file
// (under its backup name if the rename was done) and succeeds, the error
// goes to Logger, and the rotation is tried again on the first Write after
// RetryAfter; once the cause is gone the next rotation succeeds and
// nothing was lost. Writer is safe for concurrent use; its zero value with
// Filename set never rotates.
type Writer struct {
	// Filename is the live log file.
	Filename string
	// MaxSize rotates before a write that would take the file past this
	// many bytes (0 = no size trigger).
	MaxSize int64
	// Every rotates once this much time has passed since the file was
	// opened (0 = no time trigger).
	Every time.Duration
	// MaxBackups is how many backups are kept: 0 none, KeepAll every one.
	MaxBackups int
	// MaxAge and MaxTotalBytes bound the backups kept (0 = no bound).
	MaxAge        time.Duration
	MaxTotalBytes int64
	// Mode is the permission of new files (0 = 0644).
	Mode os.FileMode
	// Compress is the codec for backups ("" = none).
	Compress Compression
	// Backlog is how many rotated files may wait for the background
	// goroutine (0 = 8).
	Backlog int
	// OnRotate, if set, is told about each backup when it is final.
	OnRotate func(Rotation)
	// Logger receives background errors (nil = discard).
	Logger *slog.Logger
	// Now is the clock (nil = time.Now); the background goroutine calls
	// it too.
	Now func() time.Time
	// RetryAfter is how long a failed rotation waits before the next try
	// (0 = one second).
	RetryAfter time.Duration

	mu      sync.Mutex
	f       *os.File
	size    int64
	next    time.Time // time trigger
	closed  bool
	pending []pendingFile
	wake    chan struct{}
	done    chan struct{}

	renamed string    // w.f's backup name after a rename whose create failed
	retryAt time.Time // no rotation is tried before this, after a failure
	lastErr error     // the last rotation failure, for Err

	// Backups beyond MaxBackups: finished ones (oldest first, loaded by the
	// mill), the one the mill works on, and those handed to the deleter.
	finished    []string
	inMill      bool
	loaded      bool
	doomed      []string
	doomedFiles []*os.File
	toClose     []*os.File
	reap        chan struct{}
	reaped      chan struct{}
}

// KeepAll as Writer.MaxBackups or Rule.Keep keeps every backup.
const KeepAll = -1

// Rotation describes one backup made by a Writer.
type Rotation struct {
	// Backup is the backup's final path (with .gz/.zst when compressed).
	Backup string
	// Size is the uncompressed size in bytes.
	Size int64
	// Time is when the rotation happened.
	Time time.Time
}

type pendingFile struct {
	f    *os.File // nil once closed
	rot  Rotation
	name string // the uncompressed backup
}

// Write writes p to the current file, rotating first when a trigger fires.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, os.ErrClosed
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return 0, err
		}
	}
	if w.size > 0 && (w.MaxSize > 0 && w.size+int64(len(p)) > w.MaxSize || w.Every > 0 && !w.now().Before(w.next)) {
		if now := w.now(); !now.Before(w.retryAt) {
			if err := w.rotate(); err != nil {
				// Keep writing to the current file: the line is not lost,
				// and the rotation is tried again later.
				w.lastErr = err
				w.retryAt = now.Add(w.retryAfter())
				w.logger().Warn("rotation failed, still writing to the current file", "path", w.Filename, "retry_in", w.retryAfter(), "err", err)
			}
		}
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

// Rotate rotates now, whatever the triggers say (an empty file too).
func (w *Writer) Rotate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	return w.rotate()
}

// Err returns the last rotation failure (nil when the last rotation
// worked or none failed). Write does not return it: the data went to the
// current file.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

func (w *Writer) retryAfter() time.Duration {
	if w.RetryAfter <= 0 {
		return time.Second
	}
	return w.RetryAfter
}

// Sync flushes the current file to stable storage.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	return w.f.Sync()
}

// Close closes the current file and waits for the background goroutine to
// finish its backlog (compression, pruning, callbacks).
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
	}
	done, reaped := w.done, w.reaped
	if w.wake != nil {
		close(w.wake)
	}
	if w.reap != nil {
		close(w.reap)
	}
	w.mu.Unlock()
	if done != nil {
		<-done
	}
	if reaped != nil {
		<-reaped
	}
	return err
}

func (w *Writer) now() time.Time {
	if w.Now == nil {
		return time.Now()
	}
	return w.Now()
}

func (w *Writer) mode() os.FileMode {
	if w.Mode == 0 {
		return 0o644
	}
	return w.Mode.Perm()
}

func (w *Writer) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}

// open opens Filename for appending, creating it if needed.
func (w *Writer) open() error {
	if w.Filename == "" {
		return errors.New("rotate.Writer: no Filename")
	}
	f, err := w.create()
	if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(w.Filename, os.O_WRONLY|os.O_APPEND|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return fmt.Errorf("open log %s: %w", w.Filename, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log %s: %w", w.Filename, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("open log %s: not a regular file", w.Filename)
	}
	w.f, w.size, w.next = f, st.Size(), w.now().Add(w.Every)
	return nil
}

// create makes a new, empty Filename: O_EXCL, never O_TRUNC.
func (w *Writer) create() (*os.File, error) {
	f, err := os.OpenFile(w.Filename, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND|unix.O_NOFOLLOW, w.mode())
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(w.mode()); err != nil { // past the umask
		f.Close()
		return nil, err
	}
	return f, nil
}

// rotate renames the current file to a fresh backup name, opens a new one
// and queues the old one for the background goroutine. w.mu is held. When
// the new file cannot be made, w.f stays the (renamed) current file and
// the next rotation only tries the create again.
func (w *Writer) rotate() error {
	now := w.now()
	name := w.renamed
	if name == "" {
		var err error
		if name, err = w.renameToBackup(now); err != nil {
			return fmt.Errorf("rotate %s: %w", w.Filename, err)
		}
	}
	f, err := w.create()
	var size int64
	if errors.Is(err, os.ErrExist) {
		// Made meanwhile by someone else: append to it.
		f, err = os.OpenFile(w.Filename, os.O_WRONLY|os.O_APPEND|unix.O_NOFOLLOW, 0)
		if err == nil {
			if st, serr := f.Stat(); serr == nil {
				size = st.Size()
			}
		}
	}
	if err != nil {
		w.renamed = name
		return fmt.Errorf("rotate %s: create the new file (still writing to %s): %w", w.Filename, name, err)
	}
	w.renamed, w.lastErr, w.retryAt = "", nil, time.Time{}
	old := pendingFile{f: w.f, name: name, rot: Rotation{Backup: name, Size: w.size, Time: now}}
	w.f, w.size, w.next = f, size, now.Add(w.Every)
	backlog := w.Backlog
	if backlog <= 0 {
		backlog = 8
	}
	if len(w.pending) >= backlog {
		old.f.Close() // the goroutine is behind: don't hold more descriptors
		old.f = nil
	}
	w.pending = append(w.pending, old)
	w.bound()
	if w.wake == nil {
		w.wake, w.done = make(chan struct{}, 1), make(chan struct{})
		go w.mill(w.wake, w.done)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// bound hands the oldest backups beyond MaxBackups to the deleter: the
// finished ones first, then queued ones the mill has not started. w.mu is
// held.
func (w *Writer) bound() {
	if w.MaxBackups < 0 {
		return
	}
	for len(w.finished)+len(w.pending) > w.MaxBackups {
		if len(w.finished) > 0 {
			w.doomed = append(w.doomed, w.finished[0])
			w.finished = w.finished[1:]
			continue
		}
		p := w.pending[0]
		w.pending = w.pending[1:]
		if p.f != nil {
			w.doomedFiles = append(w.doomedFiles, p.f)
		}
		w.doomed = append(w.doomed, p.name)
	}
	if len(w.doomed) == 0 {
		return
	}
	// Unlinking takes microseconds: do it now, so the bound holds at
	// every moment. Closing a doomed file that is still open frees its
	// blocks, which can take longer: the deleter goroutine does that.
	files := w.removeDoomed()
	if len(files) == 0 {
		return
	}
	if w.closed {
		for _, f := range files {
			f.Close()
		}
		return
	}
	w.toClose = append(w.toClose, files...)
	if w.reap == nil {
		w.reap, w.reaped = make(chan struct{}, 1), make(chan struct{})
		go w.deleter(w.reap, w.reaped)
	}
	select {
	case w.reap <- struct{}{}:
	default:
	}
}

// deleter closes the files of deleted backups, until Close.
func (w *Writer) deleter(wake <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	run := func() {
		w.mu.Lock()
		files := w.toClose
		w.toClose = nil
		w.mu.Unlock()
		for _, f := range files {
			f.Close()
		}
	}
	for range wake {
		run()
	}
	run()
}

// removeDoomed deletes the backups bound chose and returns their open
// files for the caller to close. w.mu is held: an unlink takes
// microseconds (the blocks of a file still open are freed at its close,
// which the caller does after the lock).
func (w *Writer) removeDoomed() []*os.File {
	paths, files := w.doomed, w.doomedFiles
	w.doomed, w.doomedFiles = nil, nil
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.logger().Warn("remove old backup", "path", p, "err", err)
		}
	}
	return files
}

// renameToBackup renames Filename to its backup name for t, adding -1, -2
// ... when the name is taken.
func (w *Writer) renameToBackup(t time.Time) (string, error) {
	for i := 0; i < 1000; i++ {
		name := w.backupName(t, i)
		err := renameNoReplace(w.Filename, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, os.ErrExist) && !errors.Is(err, unix.EEXIST) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free backup name for %s", w.Filename)
}

const writerStamp = "2006-01-02T15-04-05.000"

// backupName is dir/NAME-TIMESTAMP[-N].EXT.
func (w *Writer) backupName(t time.Time, n int) string {
	dir, base := filepath.Split(w.Filename)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	s := stem + "-" + t.UTC().Format(writerStamp)
	if n > 0 {
		s += fmt.Sprintf("-%d", n)
	}
	return filepath.Join(dir, s+ext)
}
