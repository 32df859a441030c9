package cleanup_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/cleanup"
)

// limitedSpec is a sweep run by a child process of the test binary under
// resource limits, so that a regression (a loop that eats memory, a
// descriptor leak, a hang) fails the test instead of taking the machine
// down.
type limitedSpec struct {
	Rules       []cleanup.Rule
	Protect     []string
	Workers     int
	MaxOpenDirs int
	DryRun      bool
	// Text: print the report as the adapter's text would (first 200 items)
	// instead of JSON.
	Text bool
	// MemMiB limits the child's data segment (RLIMIT_DATA: the heap Go
	// maps, not the address space it only reserves), NoFile its
	// descriptors (RLIMIT_NOFILE); 0: 1 GiB and the parent's.
	MemMiB, NoFile int
	// Quiet logs warnings only (no record per deletion).
	Quiet bool
	// Nobody runs the child as uid/gid 65534 when the tests run as root.
	Nobody bool
	// NoItems prints the report without its items (a huge plan's paths
	// would cost more than the sweep).
	NoItems bool
}

// limitedResult is what the child did: its report (decoded from the
// streamed JSON), its info log records, its peak RSS and how it ended.
type limitedResult struct {
	Report  childJSON
	Log     []map[string]any
	Stdout  []byte
	Stderr  []byte
	MaxRSS  int64 // KiB
	ExitErr error
}

// childJSON is the streamed JSON report, decoded.
type childJSON struct {
	Deleted      int
	Scanned      int
	Bytes        int64
	ItemsOmitted int `json:"items_omitted"`
	Skipped      map[string]int
	Errors       []string
	Items        []cleanup.Item
}

const limitedEnv = "TEND_CLEANUP_LIMITED"

// limitedChild runs in the child: it applies the limits, sweeps and
// prints the report to stdout and its JSON log to stderr.
func limitedChild(spec string) int {
	var sp limitedSpec
	if err := json.Unmarshal([]byte(spec), &sp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	mem := uint64(1024) << 20
	if sp.MemMiB > 0 {
		mem = uint64(sp.MemMiB) << 20
	}
	mem *= raceMemFactor
	if err := unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: mem, Max: mem}); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit DATA:", err)
		return 3
	}
	if sp.NoFile > 0 {
		n := uint64(sp.NoFile)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit NOFILE:", err)
			return 3
		}
	}
	opts := &slog.HandlerOptions{}
	if sp.Quiet {
		opts.Level = slog.LevelWarn
	}
	s := &cleanup.Sweeper{Rules: sp.Rules, Protect: sp.Protect, Workers: sp.Workers, MaxOpenDirs: sp.MaxOpenDirs,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, opts))}
	rep, _ := s.Sweep(context.Background(), sp.DryRun)
	out := bufio.NewWriter(os.Stdout)
	if sp.NoItems {
		json.NewEncoder(out).Encode(childJSON{Deleted: rep.Deleted, Scanned: rep.Scanned, Bytes: rep.Bytes,
			ItemsOmitted: rep.ItemsOmitted, Skipped: rep.Skipped, Errors: rep.Errors})
	} else if err := rep.WriteJSON(out); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		return 3
	}
	out.Flush()
	return 0
}

// runLimited runs spec in a child under its limits and a deadline.
func runLimited(t *testing.T, spec limitedSpec, timeout time.Duration) limitedResult {
	t.Helper()
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bin := os.Args[0]
	var cred *syscall.Credential
	if spec.Nobody && os.Geteuid() == 0 {
		bin = nobodyBinary(t)
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), limitedEnv+"="+string(b))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	res := limitedResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitErr: err}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSS = ru.Maxrss
		}
	}
	require.NoError(t, ctx.Err(), "the child ran past its %v deadline", timeout)
	require.NoError(t, err, "child failed: %s", head(stderr.Bytes()))
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res.Report), "%s", tail(stdout.Bytes()))
	for line := range bytes.Lines(stderr.Bytes()) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil {
			res.Log = append(res.Log, rec)
		}
	}
	return res
}

// deletedPaths lists the paths of the "deleted" log records, in order.
func (r limitedResult) deletedPaths() []string {
	var out []string
	for _, rec := range r.Log {
		if rec["msg"] == "deleted" {
			out = append(out, rec["path"].(string))
		}
	}
	return out
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// nobodyBinary copies the test binary where nobody may run it.
func nobodyBinary(t *testing.T) string {
	dir, err := os.MkdirTemp("", "tend-cleanup-bin-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	self, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	bin := filepath.Join(dir, "cleanup.test")
	require.NoError(t, os.WriteFile(bin, self, 0o755))
	return bin
}

func head(b []byte) []byte {
	if len(b) > 2000 {
		return b[:2000]
	}
	return b
}
