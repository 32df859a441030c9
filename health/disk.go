package health

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/tendkit/tend/units"
)

// Disk checks the free space and free inodes of the file system holding
// Path. It fails when fewer than MinFree bytes or MinFreeInodes inodes are
// available to an unprivileged user, and always when none are (a full file
// system fails even with no minimum configured; file systems that report no
// inode counts at all, such as some FUSE and network mounts, are judged by
// bytes alone).
type Disk struct {
	Path          string
	MinFree       int64
	MinFreeInodes int64
}

// Name is "disk PATH".
func (c *Disk) Name() string { return "disk " + c.Path }

// Local marks the check as process-local (part of liveness).
func (c *Disk) Local() bool { return true }

// Check reads statfs(Path).
func (c *Disk) Check(ctx context.Context) Result {
	var st unix.Statfs_t
	if err := unix.Statfs(c.Path, &st); err != nil {
		return failf("statfs %s: %v", c.Path, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	total := int64(st.Blocks) * int64(st.Bsize)
	inodes, files := int64(st.Ffree), int64(st.Files)
	d := map[string]any{"free_bytes": free, "total_bytes": total, "free_inodes": inodes, "total_inodes": files}
	msg := fmt.Sprintf("%s free of %s", units.Size(free).Human(), units.Size(total).Human())
	if files > 0 {
		msg += fmt.Sprintf(", %d inodes free", inodes)
	}
	switch {
	case free <= 0:
		return failf("%s: the file system is full", msg).with(d)
	case files > 0 && inodes <= 0:
		return failf("%s: no inodes left (new files cannot be created)", msg).with(d)
	case c.MinFree > 0 && free < c.MinFree:
		return failf("%s, want at least %s", msg, units.Size(c.MinFree).Human()).with(d)
	case c.MinFreeInodes > 0 && files > 0 && inodes < c.MinFreeInodes:
		return failf("%s, want at least %d", msg, c.MinFreeInodes).with(d)
	}
	return passf("%s", msg).with(d)
}
