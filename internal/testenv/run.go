package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunDocker runs the docker CLI at bin (from Docker) with args, bounded to
// three minutes, and returns its combined output, trimmed.
func RunDocker(t testing.TB, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// MustDocker is RunDocker that fails the test, naming the command and its
// output, when docker fails.
func MustDocker(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, err := RunDocker(t, bin, args...)
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// Buffer is a bytes.Buffer safe for a process's concurrent writers (its
// stdout and stderr goroutines) and a test reading it meanwhile.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
