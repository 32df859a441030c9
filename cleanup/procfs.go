package cleanup

import (
	"context"
	"fmt"
	"strings"

	"github.com/tendkit/tend/internal/procfs"
)

// fileID names a file by device and inode.
type fileID struct{ dev, ino uint64 }

// held is what processes hold: files open or mapped, and BSD/POSIX locks.
type held struct {
	open   map[fileID]bool
	locked map[fileID]bool
}

func (h *held) isOpen(i Info) bool   { return h != nil && h.open[fileID{i.Dev, i.Ino}] }
func (h *held) isLocked(i Info) bool { return h != nil && h.locked[fileID{i.Dev, i.Ino}] }

// readHeld scans the proc file system mounted at proc once, through
// internal/procfs: /proc/*/fd (open regular files), /proc/*/maps (mapped
// files, such as model weights loaded with mmap) and /proc/locks (holders,
// not waiters). Processes that vanish or that we may not read are passed
// over.
func readHeld(ctx context.Context, proc string) (*held, error) {
	h := &held{open: map[fileID]bool{}, locked: map[fileID]bool{}}
	fsys := procfs.NewFS(proc)
	err := fsys.WalkProcs(ctx, func(p procfs.Proc) error {
		p.WalkFDs(ctx, func(d procfs.FD) error {
			if st, err := d.Stat(); err == nil && st.IsRegular() {
				h.open[fileID{st.Dev, st.Ino}] = true
			}
			return nil
		})
		p.Maps(func(m procfs.Mapping) error {
			if m.Ino != 0 {
				h.open[fileID{m.Dev, m.Ino}] = true
			}
			return nil
		})
		return ctx.Err()
	})
	if err != nil {
		return h, fmt.Errorf("scan %s for open files: %w", proc, err)
	}
	fsys.Locks(func(l procfs.Lock) error {
		if !l.Waiter {
			h.locked[fileID{l.Dev, l.Ino}] = true
		}
		return nil
	})
	return h, nil
}

// mount is one mount point of /proc/self/mountinfo, as the sweep uses it.
type mount struct {
	point   string
	options string
	fstype  string
}

// readMounts reads a mountinfo file through internal/procfs.
func readMounts(path string) ([]mount, error) {
	ms, err := procfs.ReadMountInfo(path)
	if err != nil {
		return nil, err
	}
	out := make([]mount, len(ms))
	for i, m := range ms {
		out[i] = mount{point: m.Point, options: m.Options, fstype: m.FSType}
	}
	return out, nil
}

// mountOf returns the mount holding path (the longest mount point prefix;
// the last one wins when mounts are stacked).
func mountOf(ms []mount, path string) (mount, bool) {
	var best mount
	found := false
	for _, m := range ms {
		if under(path, m.point) && (!found || len(m.point) >= len(best.point)) {
			best, found = m, true
		}
	}
	return best, found
}

// mountsUnder returns the mount points strictly below root, relative to it.
func mountsUnder(ms []mount, root string) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		if m.point != root && under(m.point, root) {
			out[strings.TrimPrefix(strings.TrimPrefix(m.point, root), "/")] = true
		}
	}
	return out
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

func hasOption(opts, o string) bool {
	for x := range strings.SplitSeq(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}
