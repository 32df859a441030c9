package rotate

import (
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/tendkit/tend/internal/atomicfile"
)

// newEncoder wraps w in the codec's compressor. Zstd runs single-threaded:
// on small machines the default concurrent encoder is slower.
func newEncoder(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	}
	return nopCloser{w}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// compressFile writes src compressed with c to dst (atomically) and then
// removes src. It returns the number of bytes read from src.
func compressFile(src, dst string, c Compression) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return 0, err
	}
	var n int64
	err = atomicfile.Write(dst, atomicfile.Options{Perm: st.Mode().Perm(), NoReplace: true}, func(w io.Writer) error {
		enc, err := newEncoder(c, w)
		if err != nil {
			return err
		}
		if n, err = io.Copy(enc, in); err != nil {
			return err
		}
		return enc.Close()
	})
	if err != nil {
		return n, fmt.Errorf("compress %s: %w", src, err)
	}
	copyOwner(dst, st)
	if err := os.Remove(src); err != nil {
		return n, fmt.Errorf("compress %s: remove the original: %w", src, err)
	}
	return n, nil
}

// newDecoder reads a backup compressed with c ("gz"/"gzip", "zst"/"zstd").
func newDecoder(c Compression, r io.Reader) (io.Reader, error) {
	switch c {
	case Gzip, "gz":
		return gzip.NewReader(r)
	case Zstd, "zst":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return r, nil
}
