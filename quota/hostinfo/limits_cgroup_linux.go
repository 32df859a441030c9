package hostinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tendkit/tend/units"
)

// cgroups fills in memory, CPU, cpuset and pids limits, each from the v1
// controller when it is mounted and from the v2 hierarchy otherwise.
func (r *limitsReader) cgroups(mounts []mount, groups map[string]string) {
	var v1, v2 bool
	for _, m := range mounts {
		v1 = v1 || m.fstype == "cgroup"
		v2 = v2 || m.fstype == "cgroup2"
	}
	switch {
	case v1 && v2:
		r.l.Cgroup = CgroupModeHybrid
	case v1:
		r.l.Cgroup = CgroupModeV1
	case v2:
		r.l.Cgroup = CgroupModeV2
	}
	unified := r.dirs(mounts, groups, "")
	if ds := r.dirs(mounts, groups, "memory"); len(ds) > 0 {
		r.memoryV1(ds)
	} else if len(unified) > 0 {
		r.memoryV2(unified)
	}
	if ds := r.dirs(mounts, groups, "cpu"); len(ds) > 0 {
		for _, d := range ds {
			q, okq := r.int(filepath.Join(d, "cpu.cfs_quota_us"))
			p, okp := r.int(filepath.Join(d, "cpu.cfs_period_us"))
			if okq && okp && q > 0 && p > 0 {
				r.l.CPUs = NanoCPUs(minLimit(int64(r.l.CPUs), q*1e9/p))
			}
		}
	} else {
		for _, d := range unified {
			if v, ok := r.read(filepath.Join(d, "cpu.max")); ok {
				f := strings.Fields(v)
				if len(f) == 2 && f[0] != "max" {
					q, err1 := strconv.ParseInt(f[0], 10, 64)
					p, err2 := strconv.ParseInt(f[1], 10, 64)
					if err1 != nil || err2 != nil || p <= 0 {
						r.fail(fmt.Errorf("%s: %q is not QUOTA PERIOD", filepath.Join(d, "cpu.max"), v))
						continue
					}
					r.l.CPUs = NanoCPUs(minLimit(int64(r.l.CPUs), q*1e9/p))
				}
			}
		}
	}
	if ds := r.dirs(mounts, groups, "cpuset"); len(ds) > 0 {
		r.l.Cpuset = r.first(ds, "cpuset.effective_cpus", "cpuset.cpus")
	} else {
		r.l.Cpuset = r.first(unified, "cpuset.cpus.effective")
	}
	pids := r.dirs(mounts, groups, "pids")
	if len(pids) == 0 {
		pids = unified
	}
	for _, d := range pids {
		if v, ok := r.limit(filepath.Join(d, "pids.max")); ok {
			r.l.PidsMax = minLimit(r.l.PidsMax, v)
		}
	}
}

func (r *limitsReader) memoryV1(ds []string) {
	l := r.l
	for _, d := range ds {
		if v, ok := r.limit(filepath.Join(d, "memory.limit_in_bytes")); ok {
			l.Memory = units.Size(minLimit(int64(l.Memory), v))
		}
		if v, ok := r.limit(filepath.Join(d, "memory.memsw.limit_in_bytes")); ok {
			l.MemorySwap = units.Size(minLimit(int64(l.MemorySwap), v))
		}
	}
	if v, ok := r.limit(filepath.Join(ds[0], "memory.soft_limit_in_bytes")); ok {
		l.MemoryReservation = units.Size(v)
	}
	if stat, ok := r.read(filepath.Join(ds[0], "memory.stat")); ok {
		for line := range strings.SplitSeq(stat, "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || v >= cgroupV1Unlimited || v <= 0 {
				continue
			}
			switch f[0] {
			case "hierarchical_memory_limit":
				l.Memory = units.Size(minLimit(int64(l.Memory), v))
			case "hierarchical_memsw_limit":
				l.MemorySwap = units.Size(minLimit(int64(l.MemorySwap), v))
			}
		}
	}
}

func (r *limitsReader) memoryV2(ds []string) {
	l := r.l
	var swap int64
	for _, d := range ds {
		if v, ok := r.limit(filepath.Join(d, "memory.max")); ok {
			l.Memory = units.Size(minLimit(int64(l.Memory), v))
		}
		if v, ok := r.limit(filepath.Join(d, "memory.high")); ok {
			l.MemoryHigh = units.Size(minLimit(int64(l.MemoryHigh), v))
		}
		if v, ok := r.read(filepath.Join(d, "memory.swap.max")); ok {
			if v == "max" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				r.fail(fmt.Errorf("%s: %q is not a number of bytes", filepath.Join(d, "memory.swap.max"), v))
				continue
			}
			if swap == 0 || n < swap {
				swap = n
			}
			if n == 0 {
				swap = -1 // no swap at all
			}
		}
	}
	if v, ok := r.limit(filepath.Join(ds[0], "memory.low")); ok {
		l.MemoryReservation = units.Size(v)
	}
	switch {
	case l.Memory > 0 && swap == -1:
		l.MemorySwap = l.Memory
	case l.Memory > 0 && swap > 0:
		l.MemorySwap = l.Memory + units.Size(swap)
	}
}

// minLimit returns the smaller limit, 0 standing for unlimited.
func minLimit(cur, v int64) int64 {
	if v <= 0 {
		return cur
	}
	if cur == 0 || v < cur {
		return v
	}
	return cur
}

// read returns a file's trimmed text; a missing file is not an error.
func (r *limitsReader) read(path string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			r.fail(err)
		}
		return "", false
	}
	return strings.TrimSpace(string(data)), true
}

func (r *limitsReader) int(path string) (int64, bool) {
	v, ok := r.read(path)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(fmt.Errorf("%s: %q is not a number", path, v))
		return 0, false
	}
	return n, true
}

// limit reads a limit file: "max", -1 or the v1 sentinel mean unlimited (0).
func (r *limitsReader) limit(path string) (int64, bool) {
	v, ok := r.read(path)
	if !ok {
		return 0, false
	}
	if v == "max" || v == "-1" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		r.fail(fmt.Errorf("%s: %q is not a limit (a number or max)", path, v))
		return 0, false
	}
	if n >= cgroupV1Unlimited {
		return 0, true
	}
	return n, true
}

// first returns the first non-empty file among names, leaf to top.
func (r *limitsReader) first(ds []string, names ...string) string {
	for _, d := range ds {
		for _, n := range names {
			if v, ok := r.read(filepath.Join(d, n)); ok && v != "" {
				return v
			}
		}
	}
	return ""
}

// shm reads /dev/shm's size from its tmpfs mount options, or statfs.
func (r *limitsReader) shm(mounts []mount) {
	for i := len(mounts) - 1; i >= 0; i-- {
		m := mounts[i]
		if m.point != "/dev/shm" {
			continue
		}
		for _, o := range m.super {
			if v, ok := strings.CutPrefix(o, "size="); ok {
				s, err := units.ParseSize(v)
				if err != nil {
					r.fail(fmt.Errorf("/dev/shm mount option %q: %w", o, err))
				}
				r.l.ShmSize = s
				return
			}
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Join(r.root, "dev/shm"), &st); err == nil {
			r.l.ShmSize = units.Size(int64(st.Blocks) * int64(st.Bsize)) // Bsize is uint32 on darwin
		}
		return
	}
}
