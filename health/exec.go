package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// waitDelay is how long a killed process's pipes may stay open (held by a
// grandchild that escaped the group) before Wait gives up on them.
const waitDelay = 500 * time.Millisecond

// procResult is what one subprocess run produced.
type procResult struct {
	Stdout []byte
	Stderr string // the last bytes of stderr
	Err    error  // nil, a start error, an *exec.ExitError, or ctx's error
}

// runGroup runs argv in its own process group. When ctx ends, the whole
// group is killed (SIGKILL), so no grandchild keeps running or holds the
// pipes; Wait reaps the child so no zombie is left. Any members of the group
// left after the child exits are killed too.
func runGroup(ctx context.Context, argv []string, env []string) procResult {
	if len(argv) == 0 || argv[0] == "" {
		return procResult{Err: errors.New("no command given")}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = env
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	var stdout limitedBuffer
	stdout.limit = 64 << 10
	stderr := &tailBuffer{limit: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		return procResult{Err: err}
	}
	err := cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers; ESRCH when none
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return procResult{Stdout: stdout.Bytes(), Stderr: stderr.String(), Err: err}
}

// describe turns a run's error into a short phrase.
func (r procResult) describe(what string, timeout time.Duration) string {
	var ee *exec.ExitError
	switch {
	case errors.Is(r.Err, context.DeadlineExceeded):
		if timeout > 0 {
			return fmt.Sprintf("%s timed out after %s and was killed", what, timeout)
		}
		return what + " timed out and was killed"
	case errors.Is(r.Err, context.Canceled):
		return what + " was cancelled and killed"
	case errors.Is(r.Err, exec.ErrNotFound):
		return fmt.Sprintf("%s: %v", what, r.Err)
	case errors.As(r.Err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("%s killed by signal %s", what, ws.Signal())
		}
		return fmt.Sprintf("%s exited with status %d", what, ee.ExitCode())
	case r.Err != nil:
		return fmt.Sprintf("%s: %v", what, r.Err)
	}
	return what + " succeeded"
}

// lastLines returns the last n non-empty lines of s joined with " | ".
func lastLines(s string, n int) string {
	var keep []string
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			keep = append([]string{l}, keep...)
		}
	}
	return strings.Join(keep, " | ")
}

// limitedBuffer keeps the first limit bytes written to it.
type limitedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns what was kept, with unprintable bytes replaced.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return printable(string(b.buf))
}
