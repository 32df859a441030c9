package health

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tendkit/tend/internal/procfs"
	"github.com/tendkit/tend/units"
)

// DeletedOpen finds files that were unlinked while a process still holds
// them open: their space stays in use until the process closes them (the
// classic leak of a log rotated by rename without a signal). It scans
// Proc/*/fd for links ending in " (deleted)" and sums their sizes per
// pid; a file open in several descriptors counts once, empty files and
// memory-backed ones (memfd:, /dev/shm, anon_inode) not at all.
//
// It warns when the total reaches WarnBytes (0 = 1 GiB) and fails at
// FailBytes (0 = never). Processes it may not inspect are passed over.
type DeletedOpen struct {
	// Proc is the proc file system's mount point ("" = "/proc").
	Proc      string
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

// ScanDeletedOpen lists the unlinked-but-open files of the proc file
// system mounted at proc ("" = "/proc"), largest first, in one walk of
// proc/*/fd.
func ScanDeletedOpen(ctx context.Context, proc string) ([]DeletedFile, error) {
	var out []DeletedFile
	err := procfs.NewFS(proc).WalkProcs(ctx, func(p procfs.Proc) error {
		out = append(out, scanPid(ctx, p)...)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return out, err
		}
		return nil, fmt.Errorf("scan deleted open files: %w", err)
	}
	slices.SortFunc(out, func(a, b DeletedFile) int {
		if a.Bytes != b.Bytes {
			return int(min(max(b.Bytes-a.Bytes, -1), 1))
		}
		return a.PID - b.PID
	})
	return out, nil
}

func scanPid(ctx context.Context, p procfs.Proc) []DeletedFile {
	var out []DeletedFile
	type key struct{ dev, ino uint64 }
	seen := map[key]bool{}
	_ = p.WalkFDs(ctx, func(fd procfs.FD) error {
		target, err := fd.Target()
		if err != nil || !strings.HasSuffix(target, deletedSuffix) || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "/dev/") || strings.HasPrefix(target, "/memfd:") {
			return nil
		}
		st, err := fd.Stat()
		if err != nil || !st.IsRegular() || st.Size == 0 {
			return nil
		}
		id := key{st.Dev, st.Ino}
		if seen[id] {
			return nil
		}
		seen[id] = true
		out = append(out, DeletedFile{PID: p.PID, Path: strings.TrimSuffix(target, deletedSuffix), Bytes: st.Size})
		return nil
	})
	if len(out) > 0 {
		comm, _ := p.Comm()
		for i := range out {
			out[i].Comm = comm
		}
	}
	return out
}

// Check scans once.
func (c *DeletedOpen) Check(ctx context.Context) Result {
	files, err := ScanDeletedOpen(ctx, c.Proc)
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
