package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// maxConfigBytes caps the config file: a tend config is a few KiB, and a
// wrong path (/dev/zero, a log file) must not be read into memory.
const maxConfigBytes = 1 << 20

// errConfigTooLarge is readConfig's error past maxConfigBytes.
var errConfigTooLarge = fmt.Errorf("larger than %d bytes (1 MiB): not a tend config", maxConfigBytes)

// readConfig reads at most maxConfigBytes of path and gives up when ctx
// ends: opening a FIFO with no writer, or reading from a hung mount, blocks
// in the kernel, so the read runs in its own goroutine, which is abandoned
// (and leaks until the process exits, which it is about to) at the
// deadline.
func readConfig(ctx context.Context, path string) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readCapped(path)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("read %s: nothing within the deadline (a FIFO with no writer, or a hung mount?): %w", path, context.Cause(ctx))
	}
}

func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("read %s: %w", path, errConfigTooLarge)
	}
	return b, nil
}
