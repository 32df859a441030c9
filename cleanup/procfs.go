package cleanup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tendkit/tend/internal/procfs"
)

// fileID names a file by device and inode.
type fileID struct{ dev, ino uint64 }

// held is what processes hold: files open or mapped, and BSD/POSIX locks.
type held struct {
	open   map[fileID]bool
	locked map[fileID]bool
	// devs are the devices holding anything in open or locked: an entry
	// on another (a fresh cache volume) is looked up in neither.
	devs []uint64
}

func (h *held) isOpen(i Info) bool   { return h.onDev(i.Dev) && h.open[fileID{i.Dev, i.Ino}] }
func (h *held) isLocked(i Info) bool { return h.onDev(i.Dev) && h.locked[fileID{i.Dev, i.Ino}] }

func (h *held) onDev(dev uint64) bool { return h != nil && slices.Contains(h.devs, dev) }

// heldScanners is how many processes readHeld reads at once.
const heldScanners = 4

// readHeld scans the proc file system mounted at proc once, through
// internal/procfs: /proc/*/fd (open regular files), /proc/*/maps (mapped
// files, such as model weights loaded with mmap) and /proc/locks (holders,
// not waiters), a few processes at a time. Processes that vanish or that
// we may not read are passed over.
func readHeld(ctx context.Context, proc string) (*held, error) {
	h := &held{open: map[fileID]bool{}, locked: map[fileID]bool{}}
	fsys := procfs.NewFS(proc)
	procs := make(chan procfs.Proc, 64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range heldScanners {
		wg.Go(func() {
			var ids []fileID
			for p := range procs {
				p.WalkFDs(ctx, func(d procfs.FD) error {
					if st, err := d.Stat(); err == nil && st.IsRegular() {
						ids = append(ids, fileID{st.Dev, st.Ino})
					}
					return nil
				})
				p.Maps(func(m procfs.Mapping) error {
					if m.Ino != 0 {
						ids = append(ids, fileID{m.Dev, m.Ino})
					}
					return nil
				})
			}
			mu.Lock()
			for _, id := range ids {
				h.open[id] = true
			}
			mu.Unlock()
		})
	}
	err := fsys.WalkProcs(ctx, func(p procfs.Proc) error {
		procs <- p
		return ctx.Err()
	})
	close(procs)
	wg.Wait()
	if err != nil {
		h.index()
		return h, fmt.Errorf("scan %s for open files: %w", proc, err)
	}
	fsys.Locks(func(l procfs.Lock) error {
		if !l.Waiter {
			h.locked[fileID{l.Dev, l.Ino}] = true
		}
		return nil
	})
	h.index()
	return h, nil
}

// index lists the devices of what is held.
func (h *held) index() {
	for _, m := range []map[fileID]bool{h.open, h.locked} {
		for id := range m {
			if !slices.Contains(h.devs, id.dev) {
				h.devs = append(h.devs, id.dev)
			}
		}
	}
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
