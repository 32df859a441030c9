package health

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/tendkit/tend/units"
)

// DefaultProcRoot is where procfs is mounted.
const DefaultProcRoot = "/proc"

// DeletedOpen finds files that were unlinked while a process still holds
// them open: their space stays in use until the process closes them (the
// classic leak of a log rotated by rename without a signal). It scans
// ProcRoot/*/fd for links ending in " (deleted)" and sums their sizes per
// pid; a file open in several descriptors counts once, empty files and
// memory-backed ones (memfd:, /dev/shm, anon_inode) not at all.
//
// It warns when the total reaches WarnBytes (0 = 1 GiB) and fails at
// FailBytes (0 = never). Processes it may not inspect are passed over.
type DeletedOpen struct {
	// ProcRoot is the procfs mount (default DefaultProcRoot).
	ProcRoot  string
	WarnBytes int64
	FailBytes int64
}

// Name is "deleted-open".
func (c *DeletedOpen) Name() string { return "deleted-open" }

// Local marks the check as process-local (part of liveness).
func (c *DeletedOpen) Local() bool { return true }

// DeletedFile is one unlinked file still open.
type DeletedFile struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm,omitempty"`
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

const deletedSuffix = " (deleted)"

// ScanDeletedOpen lists the unlinked-but-open files under procRoot,
// largest first.
func ScanDeletedOpen(ctx context.Context, procRoot string) ([]DeletedFile, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("scan deleted open files: %w", err)
	}
	var out []DeletedFile
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, scanPid(procRoot, pid)...)
	}
	slices.SortFunc(out, func(a, b DeletedFile) int {
		if a.Bytes != b.Bytes {
			return int(min(max(b.Bytes-a.Bytes, -1), 1))
		}
		return a.PID - b.PID
	})
	return out, nil
}

func scanPid(procRoot string, pid int) []DeletedFile {
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil // gone, or not ours to read
	}
	var out []DeletedFile
	type key struct{ dev, ino uint64 }
	seen := map[key]bool{}
	for _, fd := range fds {
		link := filepath.Join(dir, fd.Name())
		target, err := os.Readlink(link)
		if err != nil || !strings.HasSuffix(target, deletedSuffix) || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/dev/") || strings.HasPrefix(target, "/memfd:") {
			continue
		}
		fi, err := os.Stat(link)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			continue
		}
		id := key{ino: uint64(len(seen)) + 1<<63}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			id = key{uint64(st.Dev), st.Ino}
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, DeletedFile{PID: pid, Path: strings.TrimSuffix(target, deletedSuffix), Bytes: fi.Size()})
	}
	if len(out) > 0 {
		comm, _ := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "comm"))
		for i := range out {
			out[i].Comm = strings.TrimSpace(string(comm))
		}
	}
	return out
}

// Check scans once.
func (c *DeletedOpen) Check(ctx context.Context) Result {
	files, err := ScanDeletedOpen(ctx, or(c.ProcRoot, DefaultProcRoot))
	if err != nil {
		return failf("%v", err)
	}
	var total int64
	perPid := map[int]int64{}
	for _, f := range files {
		total += f.Bytes
		perPid[f.PID] += f.Bytes
	}
	d := map[string]any{"bytes": total, "files": len(files)}
	if len(files) > 0 {
		d["largest"] = files[:min(len(files), 10)]
		d["bytes_per_pid"] = perPid
	}
	if len(files) == 0 {
		return passf("no deleted files held open").with(d)
	}
	msg := fmt.Sprintf("%s held by %d deleted files in %d processes; largest %s (pid %d %s)",
		units.Size(total).Human(), len(files), len(perPid), files[0].Path, files[0].PID, files[0].Comm)
	warn := or(c.WarnBytes, 1<<30)
	switch {
	case c.FailBytes > 0 && total >= c.FailBytes:
		return failf("%s, at or over %s", msg, units.Size(c.FailBytes).Human()).with(d)
	case total >= warn:
		return warnf("%s, at or over %s", msg, units.Size(warn).Human()).with(d)
	}
	return passf("%s", msg).with(d)
}
