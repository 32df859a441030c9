package rotate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tendkit/tend/internal/testenv"
)

// TestNoLossStress rotates a log 200 times (50 with -short or -race) while a
// separate process writes numbered lines at full speed, with and without
// O_APPEND, for both methods: every number must appear exactly once across
// the live file and all backups.
func TestNoLossStress(t *testing.T) {
	rotations := 200
	if testing.Short() || raceEnabled {
		rotations = 50
	}
	for _, m := range []Method{MethodCopyTruncate, MethodRename} {
		for _, app := range []bool{true, false} {
			name := fmt.Sprintf("%s/append=%v", m, app)
			t.Run(name, func(t *testing.T) {
				stress(t, t.TempDir(), m, app, rotations)
			})
		}
	}
}

// TestNoLossStressTmpfs repeats copytruncate on tmpfs, which has punch-hole
// but no collapse-range: the fallback must lose nothing either.
func TestNoLossStressTmpfs(t *testing.T) {
	// Every line stays in memory (backups are plain): 10 MB/s keeps the
	// run well inside the tmpfs, even when -race slows the rotations.
	dir := mountTmpfs(t, "256m")
	stress(t, dir, MethodCopyTruncate, true, 50, "HELPER_RATE=10")
}

func stress(t *testing.T, dir string, m Method, appendMode bool, rotations int, env ...string) {
	path := filepath.Join(dir, "app.log")
	pidfile := filepath.Join(dir, "app.pid")
	pid, stop := startWriter(t, path, appendMode, env...)
	require.NoError(t, os.WriteFile(pidfile, []byte(strconv.Itoa(pid)+"\n"), 0o644))
	rule := Rule{Path: path, Size: 64 << 10, Keep: rotations + 10, Method: m}
	if m == MethodRename {
		rule.Signal = &Signal{Pidfile: pidfile}
		rule.Create = &Create{UID: -1, GID: -1}
	}
	r := &Rotator{Rules: []Rule{rule}, State: filepath.Join(dir, "state.json")}
	done, signalled := 0, 0
	deadline := time.Now().Add(120 * time.Second) // generous: the machine may be loaded
	var details, reasons []string
	for done < rotations && time.Now().Before(deadline) {
		rep, err := r.Rotate(context.Background())
		require.NoError(t, err)
		done += rep.Rotations()
		for _, f := range rep.Files {
			if !f.Rotate && len(reasons) < 5 {
				reasons = append(reasons, f.Reason)
			}
		}
		for _, f := range rep.Files {
			for _, a := range f.Actions {
				switch a.Op {
				case OpSignal:
					signalled++
				case OpDrop:
					if len(details) < 3 {
						details = append(details, a.Detail)
					}
				}
			}
		}
		if m == MethodRename {
			time.Sleep(2 * time.Millisecond) // let the writer reopen
		}
	}
	last := stop()
	require.Equal(t, rotations, done, "rotations done in time; drops: %v; last reasons: %v", details, reasons)
	if m == MethodRename {
		assert.Equal(t, rotations, signalled)
	}
	t.Logf("%d lines, %d rotations; drops: %v", last, done, details)
	assertEveryLineOnce(t, path, last)
}

// assertEveryLineOnce reads the backups (oldest first) and the live log and
// checks that "line N" appears exactly once for every N in 1..last.
func assertEveryLineOnce(t *testing.T, path string, last int) {
	t.Helper()
	bks, err := listBackups(path, false)
	require.NoError(t, err)
	seen := make([]int, last+1)
	var bad []string
	read := func(name string) {
		f, err := os.Open(name)
		require.NoError(t, err)
		st, err := f.Stat()
		require.NoError(t, err)
		// A punched live log can be gigabytes of hole: read past it.
		b, err := io.ReadAll(io.NewSectionReader(f, dataStart(f, st.Size()), st.Size()))
		f.Close()
		require.NoError(t, err)
		b = decompress(t, name, b)
		b = bytes.ReplaceAll(b, []byte{0}, nil) // leading holes of punch-hole drops
		for _, l := range strings.Split(string(b), "\n") {
			if l == "" {
				continue
			}
			num, _, _ := strings.Cut(strings.TrimPrefix(l, "line "), " ")
			n, err := strconv.Atoi(num)
			if err != nil || n < 1 || n > last {
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%s: %q", filepath.Base(name), l))
				}
				continue
			}
			seen[n]++
		}
	}
	for i := len(bks) - 1; i >= 0; i-- {
		read(bks[i].path)
	}
	if _, err := os.Stat(path); err == nil {
		read(path)
	}
	var missing, dups []int
	for n := 1; n <= last; n++ {
		switch {
		case seen[n] == 0:
			missing = append(missing, n)
		case seen[n] > 1:
			dups = append(dups, n)
		}
	}
	first := func(ns []int) []int { return ns[:min(len(ns), 10)] }
	assert.Empty(t, bad, "malformed lines")
	assert.Empty(t, len(missing), "lines lost (%d of %d), first %v", len(missing), last, first(missing))
	assert.Empty(t, len(dups), "lines duplicated (%d of %d), first %v", len(dups), last, first(dups))
}

// mountTmpfs mounts a tmpfs of the given size for the test (root only).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
