package rotate

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/tendkit/tend/internal/atomicfile"
)

// newEncoder wraps w in the codec's compressor. Zstd runs single-threaded:
// on small machines the default concurrent encoder is slower. Encoders are
// reused (their state is large: a run compressing thousands of small
// backups spent a third of its time collecting it): Close returns one.
func newEncoder(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case CompressionGzip:
		if z, ok := gzipPool.Get().(*gzip.Writer); ok {
			z.Reset(w)
			return pooled{z, &gzipPool}, nil
		}
		z, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		return pooled{z, &gzipPool}, nil
	case CompressionZstd:
		if z, ok := zstdPool.Get().(*zstd.Encoder); ok {
			z.Reset(w)
			return pooled{z, &zstdPool}, nil
		}
		z, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
		return pooled{z, &zstdPool}, nil
	}
	return nopCloser{w}, nil
}

var gzipPool, zstdPool sync.Pool

// resetter is an encoder that can start over on another writer.
type resetter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// pooled is an encoder that goes back to its pool once closed.
type pooled struct {
	resetter
	pool *sync.Pool
}

func (p pooled) Close() error {
	err := p.resetter.Close()
	if err == nil {
		p.resetter.Reset(io.Discard) // drop the reference to the file
		p.pool.Put(p.resetter)
	}
	return err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// compressFile writes src compressed with c to dst (atomically) and then
// removes src, or, with later set, leaves src to later: the caller
// fsyncs the directory once for many compressions, so that the new names
// are on disk before the originals go, and then removes them. It returns the bytes read from src and written to dst. It
// stops, leaving src as it was, when ctx is done. Errors name no path: the
// caller says which file it was compressing.
func compressFile(ctx context.Context, src, dst string, c Compression, later bool) (in, out int64, err error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	err = atomicfile.Write(dst, atomicfile.Options{Perm: st.Mode().Perm(), NoReplace: true, NoSyncDir: later}, func(w io.Writer) error {
		cw := &countWriter{w: w}
		enc, err := newEncoder(c, cw)
		if err != nil {
			return err
		}
		if in, err = io.Copy(enc, ctxReader{ctx, f}); err != nil {
			return err
		}
		err = enc.Close()
		out = cw.n
		crashPoint("before rename of " + filepath.Base(dst))
		return err
	})
	if err != nil {
		return in, 0, err
	}
	copyOwner(dst, st)
	if later {
		return in, out, nil
	}
	crashPoint("compressed, before removing the original")
	if err := os.Remove(src); err != nil {
		return in, out, fmt.Errorf("remove the original: %w", err)
	}
	return in, out, nil
}

// ctxReader stops a copy once ctx is done (checked before every read).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newDecoder reads a backup compressed with c ("gz"/"gzip", "zst"/"zstd").
func newDecoder(c Compression, r io.Reader) (io.Reader, error) {
	switch c {
	case CompressionGzip, "gz":
		return gzip.NewReader(r)
	case CompressionZstd, "zst":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return r, nil
}
