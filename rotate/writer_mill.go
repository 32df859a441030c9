package rotate

import (
	"context"
	"runtime"

	"golang.org/x/sys/unix"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// mill is the Writer's one background goroutine: it closes rotated files,
// compresses them, prunes old backups and calls OnRotate, until Close
// closes wake; then it drains what is left and closes done. It runs on its
// own OS thread at nice 19 (the thread ends with it), so compression only
// takes CPU time the writers leave.
func (w *Writer) mill(wake <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19); err != nil {
		w.logger().Debug("compressor priority unchanged", "err", err)
	}
	w.load()
	for range wake {
		w.millOnce()
	}
	w.millOnce()
}

// load lists the backups already on disk (those of earlier runs) as
// finished, so MaxBackups counts them.
func (w *Writer) load() {
	list := w.writerBackups()
	w.mu.Lock()
	defer w.mu.Unlock()
	queued := map[string]bool{}
	for _, p := range w.pending {
		queued[p.name] = true
	}
	var old []string
	for i := len(list) - 1; i >= 0; i-- {
		if !queued[list[i].path] {
			old = append(old, list[i].path)
		}
	}
	w.finished = append(old, w.finished...)
	w.loaded = true
	w.bound()
}

func (w *Writer) millOnce() {
	log := w.logger()
	for {
		w.mu.Lock()
		if len(w.pending) == 0 {
			w.mu.Unlock()
			break
		}
		p := w.pending[0]
		w.pending = w.pending[1:]
		w.inMill = true
		w.mu.Unlock()
		if p.f != nil {
			if err := p.f.Close(); err != nil {
				log.Warn("close rotated log", "path", p.name, "err", err)
			}
		}
		if c := w.Compress; c != "" && c != CompressionNone {
			dst := p.name + c.Ext()
			if _, _, err := compressFile(context.Background(), p.name, dst, c, false); err != nil {
				log.Warn("compress rotated log", "path", p.name, "err", err)
			} else {
				p.rot.Backup = dst
			}
		}
		w.mu.Lock()
		w.inMill = false
		w.finished = append(w.finished, p.rot.Backup)
		w.bound()
		w.mu.Unlock()
		w.prune()
		if w.OnRotate != nil {
			w.OnRotate(p.rot)
		}
	}
}

// writerBackup is one backup file of a Writer.
type writerBackup struct {
	path string
	t    time.Time
	n    int // collision suffix
	size int64
}

// writerBackups lists the Writer's backups, newest first.
func (w *Writer) writerBackups() []writerBackup {
	dir, base := filepath.Split(w.Filename)
	if dir == "" {
		dir = "."
	}
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []writerBackup
	for _, e := range ents {
		stem, _ := splitCodec(e.Name())
		rest, ok := strings.CutPrefix(stem, prefix)
		if !ok || !strings.HasSuffix(rest, ext) || len(rest) < len(writerStamp)+len(ext) {
			continue
		}
		rest = strings.TrimSuffix(rest, ext)
		t, err := time.Parse(writerStamp, rest[:len(writerStamp)])
		if err != nil {
			continue
		}
		n := 0
		if tail := rest[len(writerStamp):]; tail != "" {
			if n, err = strconv.Atoi(strings.TrimPrefix(tail, "-")); err != nil || tail[0] != '-' {
				continue
			}
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		out = append(out, writerBackup{path: filepath.Join(dir, e.Name()), t: t, n: n, size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].t.Equal(out[j].t) {
			return out[i].t.After(out[j].t)
		}
		return out[i].n > out[j].n
	})
	return out
}

// prune deletes the finished backups older than MaxAge or beyond
// MaxTotalBytes (MaxBackups is kept by bound).
func (w *Writer) prune() {
	if w.MaxAge <= 0 && w.MaxTotalBytes <= 0 {
		return
	}
	now := w.now()
	w.mu.Lock()
	queued := map[string]bool{}
	for _, p := range w.pending {
		queued[p.name] = true
	}
	w.mu.Unlock()
	var total int64
	gone := map[string]bool{}
	for _, b := range w.writerBackups() {
		total += b.size
		if queued[b.path] {
			continue
		}
		if (w.MaxAge > 0 && now.Sub(b.t) > w.MaxAge) || (w.MaxTotalBytes > 0 && total > w.MaxTotalBytes) {
			if err := os.Remove(b.path); err != nil && !os.IsNotExist(err) {
				w.logger().Warn("remove old backup", "path", b.path, "err", err)
			}
			gone[b.path] = true
		}
	}
	if len(gone) == 0 {
		return
	}
	w.mu.Lock()
	kept := w.finished[:0]
	for _, f := range w.finished {
		if !gone[f] {
			kept = append(kept, f)
		}
	}
	w.finished = kept
	w.mu.Unlock()
}
