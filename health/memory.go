package health

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/tendkit/tend/internal/procfs"
	"github.com/tendkit/tend/units"
)

// DefaultCgroupRoot is where a container sees its own cgroup.
const DefaultCgroupRoot = "/sys/fs/cgroup"

// Memory checks the container's cgroup memory: the working set (usage less
// inactive file cache, as `docker stats` counts it) against the limit, and
// OOM kills counted in memory.events (cgroup v2) or memory.oom_control (v1).
//
// It warns when the working set reaches WarnUsage percent of the limit
// (0 = 90) and fails at FailUsage (0 = never). OOM kills are counted since
// Start was called, or since the cgroup was made (the container started)
// when it was not: they warn, or fail with FailOnOOMKill. Without a limit
// only the usage is reported.
type Memory struct {
	// Root is the cgroup mount (default DefaultCgroupRoot); tests point it
	// at fixtures.
	Root string
	// Proc is the proc file system's mount point ("" = "/proc"): the
	// memory cgroup's path in Proc/self/cgroup is looked up under Root
	// first, then Root itself (a container with its own cgroup namespace
	// sees its cgroup at the root).
	Proc          string
	WarnUsage     units.Percent
	FailUsage     units.Percent
	FailOnOOMKill bool

	mu       sync.Mutex
	baseline int64
}

// Name is "memory".
func (c *Memory) Name() string { return "memory" }

// Local marks the check as process-local (part of liveness).
func (c *Memory) Local() bool { return true }

// Start records the current OOM kill count so later checks count from here.
func (c *Memory) Start(ctx context.Context) error {
	st, err := ReadCgroupMemory(c.root())
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.baseline = st.OOMKills
	c.mu.Unlock()
	return nil
}

// Close does nothing; it completes Starter.
func (c *Memory) Close() error { return nil }

func (c *Memory) root() string {
	return CgroupMemoryDir(or(c.Root, DefaultCgroupRoot), procfs.NewFS(c.Proc).Self().Path("cgroup"))
}

// CgroupMemoryDir returns the directory to pass to ReadCgroupMemory for the
// process whose cgroup membership file (/proc/PID/cgroup) is self: the
// memory cgroup's own directory under root when it exists there, else root.
func CgroupMemoryDir(root, self string) string {
	groups, err := procfs.ReadCgroups(self)
	if err != nil {
		return root
	}
	for _, g := range groups {
		if g.Path == "/" || strings.Contains(g.Path, "..") {
			continue
		}
		var dir string
		switch {
		case g.Unified():
			dir = filepath.Join(root, g.Path)
			if _, err := os.Stat(filepath.Join(dir, "memory.current")); err == nil {
				return dir
			}
		case g.Has("memory"):
			dir = filepath.Join(root, "memory", g.Path)
			if _, err := os.Stat(filepath.Join(dir, "memory.usage_in_bytes")); err == nil {
				return dir
			}
		}
	}
	return root
}

// Check reads the cgroup files once.
func (c *Memory) Check(ctx context.Context) Result {
	st, err := ReadCgroupMemory(c.root())
	if errors.Is(err, ErrNoCgroupMemory) {
		return CannotRun(err, "mount the cgroup file system in the container, or mark the memory check optional")
	}
	if err != nil {
		return failf("%v", err)
	}
	c.mu.Lock()
	kills := st.OOMKills - c.baseline
	c.mu.Unlock()
	d := map[string]any{"cgroup": st.Version, "usage_bytes": st.Usage, "working_set_bytes": st.WorkingSet(), "oom_kills": kills}
	msg := units.Size(st.WorkingSet()).Human() + " used"
	status := StatusPass
	if st.Limit > 0 {
		d["limit_bytes"] = st.Limit
		pct := units.Percent(100 * float64(st.WorkingSet()) / float64(st.Limit))
		d["usage_percent"] = math.Round(float64(pct)*10) / 10
		msg = fmt.Sprintf("%s of %s (%.0f%%)", units.Size(st.WorkingSet()).Human(), units.Size(st.Limit).Human(), float64(pct))
		warn := or(c.WarnUsage, 90)
		switch {
		case c.FailUsage > 0 && pct >= c.FailUsage:
			status, msg = StatusFail, fmt.Sprintf("%s, at or over %s", msg, c.FailUsage)
		case pct >= warn:
			status, msg = StatusWarn, fmt.Sprintf("%s, at or over %s", msg, warn)
		}
	} else {
		msg += ", no limit"
	}
	if kills > 0 {
		msg += fmt.Sprintf(", %d OOM kills", kills)
		if c.FailOnOOMKill {
			status = StatusFail
		} else {
			status = max(status, StatusWarn)
		}
	}
	return Result{Status: status, Message: msg, Details: d}
}

// CgroupMemory is what ReadCgroupMemory found.
type CgroupMemory struct {
	Version      int   // 1 or 2
	Usage        int64 // bytes charged, page cache included
	InactiveFile int64 // reclaimable page cache in Usage
	Limit        int64 // bytes; 0 = no limit
	OOMKills     int64 // processes killed by the OOM killer since the cgroup was made
}

// WorkingSet is Usage less InactiveFile.
func (m CgroupMemory) WorkingSet() int64 { return max(m.Usage-m.InactiveFile, 0) }

// ErrNoCgroupMemory is returned when a directory holds no memory
// accounting files: the host's root cgroup, or no cgroup file system.
var ErrNoCgroupMemory = errors.New("no cgroup memory accounting")

// ReadCgroupMemory reads the memory controller of the cgroup mounted at
// root: cgroup v2 (memory.current, memory.max, memory.events, memory.stat)
// or v1 (memory/memory.usage_in_bytes, memory.limit_in_bytes,
// memory.oom_control, memory.stat).
func ReadCgroupMemory(root string) (CgroupMemory, error) {
	if _, err := os.Stat(filepath.Join(root, "memory.current")); err == nil {
		return readCgroup2(root)
	}
	v1 := filepath.Join(root, "memory")
	if _, err := os.Stat(filepath.Join(v1, "memory.usage_in_bytes")); err == nil {
		return readCgroup1(v1)
	}
	if _, err := os.Stat(filepath.Join(root, "memory.usage_in_bytes")); err == nil {
		return readCgroup1(root)
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return CgroupMemory{}, fmt.Errorf("read cgroup memory under %s: %w (no memory.current: the host's root cgroup, or no memory controller delegated here)", root, ErrNoCgroupMemory)
	}
	return CgroupMemory{}, fmt.Errorf("read cgroup memory under %s: %w (neither cgroup v2 memory.current nor v1 memory/memory.usage_in_bytes found)", root, ErrNoCgroupMemory)
}

func readCgroup2(dir string) (CgroupMemory, error) {
	m := CgroupMemory{Version: 2}
	var err error
	if m.Usage, err = readInt(dir, "memory.current"); err != nil {
		return m, err
	}
	lim, err := readFile(dir, "memory.max")
	if err != nil {
		return m, err
	}
	if lim != "max" {
		if m.Limit, err = parseInt(dir, "memory.max", lim); err != nil {
			return m, err
		}
	}
	if m.OOMKills, err = readKey(dir, "memory.events", "oom_kill"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	if m.InactiveFile, err = readKey(dir, "memory.stat", "inactive_file"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	return m, nil
}

// noLimitV1 is the smallest value cgroup v1 reports for "no limit"
// (PAGE_COUNTER_MAX rounded to pages; 9223372036854771712 on x86-64).
const noLimitV1 = 1 << 62

func readCgroup1(dir string) (CgroupMemory, error) {
	m := CgroupMemory{Version: 1}
	var err error
	if m.Usage, err = readInt(dir, "memory.usage_in_bytes"); err != nil {
		return m, err
	}
	if m.Limit, err = readInt(dir, "memory.limit_in_bytes"); err != nil {
		return m, err
	}
	if m.Limit >= noLimitV1 {
		m.Limit = 0
	}
	if m.OOMKills, err = readKey(dir, "memory.oom_control", "oom_kill"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	if m.InactiveFile, err = readKey(dir, "memory.stat", "total_inactive_file"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	return m, nil
}

func readFile(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("read cgroup memory: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func readInt(dir, name string) (int64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	return parseInt(dir, name, s)
}

func parseInt(dir, name, s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if u, uerr := strconv.ParseUint(s, 10, 64); uerr == nil && u > math.MaxInt64 {
			return math.MaxInt64, nil
		}
		return 0, fmt.Errorf("read cgroup memory: %s: %q is not a number", filepath.Join(dir, name), s)
	}
	return v, nil
}

// readKey reads "key value" from a flat keyed file; a missing key is 0.
func readKey(dir, name, key string) (int64, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return 0, fmt.Errorf("read cgroup memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return parseInt(dir, name, strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read cgroup memory: %s: %w", filepath.Join(dir, name), err)
	}
	return 0, nil
}
