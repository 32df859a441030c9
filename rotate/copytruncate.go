package rotate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/internal/atomicfile"
)

// dataStart returns the offset of the first byte of data in f: past the
// hole (and the zeroed partial block) a punch-hole drop leaves in front.
func dataStart(f *os.File, size int64) int64 {
	off, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_DATA)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return size // all hole
		}
		off = 0
	}
	buf := make([]byte, 64<<10)
	for off < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		i := 0
		for i < n && buf[i] == 0 {
			i++
		}
		off += int64(i)
		if i < n || err != nil {
			break
		}
	}
	return off
}

// lineEnd returns the offset just past the last newline in [start, end) of
// f, or end when there is none (one partial line is taken whole).
func lineEnd(f *os.File, start, end int64) int64 {
	buf := make([]byte, 64<<10)
	for hi := end; hi > start; {
		lo := max(start, hi-int64(len(buf)))
		n, _ := f.ReadAt(buf[:hi-lo], lo)
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return lo + int64(i) + 1
		}
		hi = lo
	}
	return end
}

// copyLive copies [start, cut) of the live log f (whole lines, chosen by
// planCut) to dst, compressed with codec, atomically, and returns the
// bytes written to dst. Before dst gets its name, record is given the
// SHA-256 of the copied range and of its part from aligned (when not 0).
func copyLive(ctx context.Context, f *os.File, dst string, codec Compression, start, cut, aligned int64, record func(sum, restSum string) error) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() < cut {
		return 0, fmt.Errorf("the live log shrank to %d bytes (planned to copy up to %d): another program truncated it", st.Size(), cut)
	}
	var written int64
	err = atomicfile.Write(dst, atomicfile.Options{Perm: st.Mode().Perm(), NoReplace: true}, func(w io.Writer) error {
		cw := &countWriter{w: w}
		enc, err := newEncoder(codec, cw)
		if err != nil {
			return err
		}
		sums := &rangeHasher{pos: start, from: aligned, all: sha256.New(), rest: sha256.New()}
		src := io.TeeReader(ctxReader{ctx, io.NewSectionReader(f, start, cut-start)}, sums)
		if _, err := io.Copy(enc, src); err != nil {
			return err
		}
		if err = enc.Close(); err != nil {
			return err
		}
		written = cw.n
		rest := ""
		if aligned > 0 {
			rest = hex.EncodeToString(sums.rest.Sum(nil))
		}
		if err := record(hex.EncodeToString(sums.all.Sum(nil)), rest); err != nil {
			return err
		}
		crashPoint("before rename of " + filepath.Base(dst))
		return nil
	})
	if err != nil {
		return 0, err
	}
	copyOwner(dst, st)
	return written, nil
}

// rangeHasher hashes everything written to it, and separately what lies
// at file offsets from from on (pos is the offset of the next byte).
type rangeHasher struct {
	pos, from int64
	all, rest hash.Hash
}

func (h *rangeHasher) Write(p []byte) (int, error) {
	h.all.Write(p)
	if end := h.pos + int64(len(p)); h.from > 0 && end > h.from {
		h.rest.Write(p[max(0, h.from-h.pos):])
	}
	h.pos += int64(len(p))
	return len(p), nil
}

// dropCopied removes [0, cut) from the live log f without losing what its
// writers add meanwhile. With only O_APPEND writers (or none) it collapses
// the block-aligned part (the file shrinks, appends land at the new end)
// and punches the rest; with a writer that writes at its own offset it
// punches a hole over the whole range (the file keeps its apparent size,
// the writer its offset, the disk space is freed). Where collapse-range
// cannot remove the whole range (tmpfs; a range under one block), the
// range is punched: nothing is lost, and the log reads as NULs up to its
// first new line until the next rotation. (Truncating when the size is
// unchanged since the copy would avoid the NULs, but a write landing
// between the size check and the truncate would be lost: measured, 172
// lines at 50 MB/s.) File systems
// with neither collapse nor punch get a truncate, logrotate's lossy
// copytruncate, with a warning. falloc is unix.Fallocate but in tests of
// the fallbacks.
func dropCopied(f *os.File, cut int64, writers []opener, log *slog.Logger, falloc fallocFunc) (string, error) {
	if cut <= 0 {
		return "nothing to drop", nil
	}
	fd := int(f.Fd())
	appendOnly := true
	for _, w := range writers {
		if w.Writable() && !w.Append() {
			appendOnly = false
		}
	}
	if appendOnly {
		var sfs unix.Statfs_t
		blk := int64(4096)
		if unix.Fstatfs(fd, &sfs) == nil && sfs.Bsize > 0 {
			blk = int64(sfs.Bsize)
		}
		aligned := cut / blk * blk
		if aligned > 0 {
			err := falloc(fd, unix.FALLOC_FL_COLLAPSE_RANGE, 0, aligned)
			if err == nil {
				crashPoint("after collapse")
				rest := cut - aligned
				if rest == 0 {
					return fmt.Sprintf("collapse-range %d bytes", aligned), nil
				}
				if err := punch(falloc, fd, rest); err != nil {
					return "", fmt.Errorf("collapsed %d bytes, then punch-hole of %d more: %w (they are in the backup and still in the live log)", aligned, rest, err)
				}
				return fmt.Sprintf("collapse-range %d bytes + punch-hole %d", aligned, rest), nil
			}
			if !unsupported(err) && !errors.Is(err, unix.EINVAL) {
				return "", fmt.Errorf("collapse-range: %w", err)
			}
			log.Debug("collapse-range not supported here", "path", f.Name(), "err", err)
		}
	}
	err := punch(falloc, fd, cut)
	if err == nil {
		if appendOnly {
			return fmt.Sprintf("punch-hole %d bytes (no collapse-range here: they read as NULs until the next rotation)", cut), nil
		}
		return fmt.Sprintf("punch-hole %d bytes", cut), nil
	}
	if !unsupported(err) {
		return "", fmt.Errorf("punch-hole: %w", err)
	}
	log.Warn("file system supports neither collapse-range nor punch-hole: truncating, lines written during the copy may be lost", "path", f.Name(), "err", err)
	if err := f.Truncate(0); err != nil {
		return "", fmt.Errorf("truncate: %w", err)
	}
	return "truncate (lossy fallback: no fallocate support)", nil
}

// fallocFunc is the signature of unix.Fallocate.
type fallocFunc func(fd int, mode uint32, off, n int64) error

func punch(falloc fallocFunc, fd int, n int64) error {
	return falloc(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, n)
}

func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS)
}
