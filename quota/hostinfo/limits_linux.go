package hostinfo

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/tendkit/tend/internal/procfs"
)

// cgroupV1Unlimited is what memory.limit_in_bytes holds when there is no
// limit (9223372036854771712: the largest page-aligned int64); anything at
// or above 1<<62 is treated as unlimited.
const cgroupV1Unlimited = 1 << 62

func readLimits(root string) (*Limits, error) {
	if root == "" {
		root = "/"
	}
	r := &limitsReader{root: root, l: &Limits{}}
	mounts, err := readMountinfo(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("read limits: %w", err)
	}
	groups, err := readProcCgroup(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read limits: %w", err)
	}
	r.cgroups(mounts, groups)
	r.shm(mounts)
	r.ulimits()
	r.gpus()
	return r.l, r.errs.ErrorOrNil()
}

type limitsReader struct {
	root string
	l    *Limits
	errs *multierror.Error
}

func (r *limitsReader) fail(err error) { r.errs = multierror.Append(r.errs, err) }

type mount struct {
	root, point, fstype string
	super               []string
}

// readMountinfo reads a mountinfo file (internal/procfs parses it).
func readMountinfo(path string) ([]mount, error) {
	pms, err := procfs.ReadMountInfo(path)
	if err != nil {
		return nil, err
	}
	ms := make([]mount, 0, len(pms))
	for _, m := range pms {
		ms = append(ms, mount{root: m.Root, point: m.Point, fstype: m.FSType, super: strings.Split(m.SuperOptions, ",")})
	}
	return ms, nil
}

// readProcCgroup maps a v1 controller (or "" for v2) to the process's
// path, from a cgroup membership file (internal/procfs parses it).
func readProcCgroup(path string) (map[string]string, error) {
	cs, err := procfs.ReadCgroups(path)
	if err != nil {
		return nil, err
	}
	groups := map[string]string{}
	for _, c := range cs {
		if c.Unified() {
			groups[""] = c.Path
			continue
		}
		for _, ctl := range c.Controllers {
			groups[ctl] = c.Path
		}
	}
	return groups, nil
}

// dirs returns the cgroup folders from the process's cgroup up to the
// mount point, leaf first, for a v1 controller or v2 ("").
func (r *limitsReader) dirs(mounts []mount, groups map[string]string, controller string) []string {
	path, ok := groups[controller]
	if !ok {
		return nil
	}
	var m *mount
	for i := range mounts {
		mi := &mounts[i]
		if controller == "" && mi.fstype == "cgroup2" || controller != "" && mi.fstype == "cgroup" && slices.Contains(mi.super, controller) {
			m = mi
		}
	}
	if m == nil {
		return nil
	}
	rel := path
	if m.root != "/" {
		if after, ok := strings.CutPrefix(path, m.root); ok {
			rel = after
		} else {
			rel = "/"
		}
	}
	top := filepath.Join(r.root, m.point)
	dir := filepath.Join(top, rel)
	var ds []string
	for {
		ds = append(ds, dir)
		if dir == top || !strings.HasPrefix(dir, top) {
			return ds
		}
		dir = filepath.Dir(dir)
	}
}
