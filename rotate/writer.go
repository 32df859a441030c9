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
// Backups beyond MaxBackups, older than MaxAge (by the time in their name)
// or beyond MaxTotalBytes (newest kept first) are deleted; zero values
// keep everything. OnRotate is called from the background goroutine with
// each backup once it is final. An existing Filename is appended to.
// Writer is safe for concurrent use; its zero value with Filename set
// never rotates.
type Writer struct {
	// Filename is the live log file.
	Filename string
	// MaxSize rotates before a write that would take the file past this
	// many bytes (0 = no size trigger).
	MaxSize int64
	// Every rotates once this much time has passed since the file was
	// opened (0 = no time trigger).
	Every time.Duration
	// MaxBackups, MaxAge and MaxTotalBytes bound the backups kept.
	MaxBackups    int
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

	mu      sync.Mutex
	f       *os.File
	size    int64
	next    time.Time // time trigger
	closed  bool
	pending []pendingFile
	wake    chan struct{}
	done    chan struct{}
}

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
		if err := w.rotate(); err != nil {
			return 0, err
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
	done := w.done
	if w.wake != nil {
		close(w.wake)
	}
	w.mu.Unlock()
	if done != nil {
		<-done
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
// and queues the old one for the background goroutine. w.mu is held.
func (w *Writer) rotate() error {
	now := w.now()
	name, err := w.renameToBackup(now)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", w.Filename, err)
	}
	f, err := w.create()
	if err != nil {
		// Keep writing to the renamed file rather than losing lines.
		return fmt.Errorf("rotate %s: create the new file: %w", w.Filename, err)
	}
	old := pendingFile{f: w.f, name: name, rot: Rotation{Backup: name, Size: w.size, Time: now}}
	w.f, w.size, w.next = f, 0, now.Add(w.Every)
	backlog := w.Backlog
	if backlog <= 0 {
		backlog = 8
	}
	if len(w.pending) >= backlog {
		old.f.Close() // the goroutine is behind: don't hold more descriptors
		old.f = nil
	}
	w.pending = append(w.pending, old)
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
