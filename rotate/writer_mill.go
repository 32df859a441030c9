package rotate

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// mill is the Writer's one background goroutine: it closes rotated files,
// compresses them, prunes old backups and calls OnRotate, until Close
// closes wake; then it drains what is left and closes done.
func (w *Writer) mill(wake <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for range wake {
		w.millOnce()
	}
	w.millOnce()
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
		w.mu.Unlock()
		if p.f != nil {
			if err := p.f.Close(); err != nil {
				log.Warn("close rotated log", "path", p.name, "err", err)
			}
		}
		if c := w.Compress; c != "" && c != NoCompression {
			dst := p.name + c.Ext()
			if _, err := compressFile(p.name, dst, c); err != nil {
				log.Warn("compress rotated log", "path", p.name, "err", err)
			} else {
				p.rot.Backup = dst
			}
		}
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

// prune deletes the backups beyond MaxBackups, MaxAge and MaxTotalBytes.
func (w *Writer) prune() {
	if w.MaxBackups <= 0 && w.MaxAge <= 0 && w.MaxTotalBytes <= 0 {
		return
	}
	now := w.now()
	var total int64
	for i, b := range w.writerBackups() {
		total += b.size
		if (w.MaxBackups > 0 && i >= w.MaxBackups) ||
			(w.MaxAge > 0 && now.Sub(b.t) > w.MaxAge) ||
			(w.MaxTotalBytes > 0 && total > w.MaxTotalBytes) {
			if err := os.Remove(b.path); err != nil && !os.IsNotExist(err) {
				w.logger().Warn("remove old backup", "path", b.path, "err", err)
			}
		}
	}
}
