package quota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/tendkit/tend/quota/hostinfo"
)

// Bounds on what the spec reader accepts. Each is checked before the
// memory it guards is allocated, so a hostile spec (a 90-byte `host:
// {cpus: 400000000}`, /dev/zero, a FIFO nobody writes) fails with a
// problem naming the limit instead of exhausting the machine.
const (
	// MaxSpecSize is the largest spec file read (32 MiB, about 400,000
	// users); LoadSpec stops reading there.
	MaxSpecSize = 32 << 20
	// MaxUsers is the most users a spec may list.
	MaxUsers = 1 << 18
	// MaxCPUs bounds host CPU counts and CPU numbers in cpu lists (Linux
	// supports at most 8192 with CONFIG_MAXSMP); it is hostinfo.MaxCPUs.
	MaxCPUs = hostinfo.MaxCPUs
	// MaxGPUs bounds the host's GPU list.
	MaxGPUs = 1 << 12
	// maxNumberText bounds the text of a number before it is parsed
	// (math/big parses very long numbers in quadratic time).
	maxNumberText = 64
)

// DefaultReadTimeout bounds LoadSpec when ctx has no deadline: a FIFO or
// a device that never delivers the spec fails instead of hanging.
const DefaultReadTimeout = 30 * time.Second

// LoadSpec reads and parses the spec file at path (see ParseSpec). It reads
// at most MaxSpecSize bytes, so /dev/zero is an error, and it opens the
// file without blocking and reads under ctx's deadline (DefaultReadTimeout
// when ctx has none), so a FIFO whose writer never writes is an error too.
// The spec comes back with its parse problems, as from ParseSpec; it is
// nil only when the file could not be read or parsed at all.
func LoadSpec(ctx context.Context, path string) (*Spec, error) {
	data, err := readSpecFile(ctx, path)
	if err != nil {
		return nil, &Problem{File: path, Err: fmt.Errorf("read spec: %w", err)}
	}
	return ParseSpec(path, data)
}

func readSpecFile(ctx context.Context, path string) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultReadTimeout)
		defer cancel()
	}
	// O_NONBLOCK: opening a FIFO does not wait for a writer, and reads of
	// pipes go through the runtime poller, where deadlines apply.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, errors.New("is a directory")
	}
	if st.Mode().IsRegular() && st.Size() > MaxSpecSize {
		return nil, fmt.Errorf("%d bytes, over the limit of %d (MaxSpecSize): %w", st.Size(), MaxSpecSize, ErrTooLarge)
	}
	// Pipes and FIFOs honour the deadline; a device the poller cannot
	// wait on (/dev/zero) is bounded by the size limit alone.
	deadline, _ := ctx.Deadline()
	_ = f.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no complete spec before the deadline (a FIFO nobody writes?): %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("no complete spec before the deadline: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSpecSize {
		return nil, fmt.Errorf("more than %d bytes (MaxSpecSize): %w", MaxSpecSize, ErrTooLarge)
	}
	return data, nil
}
