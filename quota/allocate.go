package quota

import (
	"fmt"
	"slices"
)

// AllocateOptions tune Allocate.
type AllocateOptions struct {
	// PortRange is where `port: auto` ports come from (zero = DefaultPortRange).
	PortRange PortRange
	// Previous is an earlier allocation. A user found there by name keeps
	// the GPUs, host port and CPU set it had, when they are still free and
	// it still asks for as many: adding or reordering users moves no one.
	Previous []QuotaSpec
}

// Allocate resolves what users asked for loosely into concrete resources:
// a GPU count (or all) becomes device ids, `port: auto` a host port, and
// `cpuset: auto` a block of CPUs. It is deterministic: ids, ports and CPUs
// named explicitly are reserved first, then users in Previous keep theirs,
// then the others take the lowest free ones in list order, so appending a
// user never changes the earlier users' resources. What cannot be
// allocated is returned as problems; the users come back either way, with
// what could be resolved.
func Allocate(host Host, users []QuotaSpec, opts AllocateOptions) ([]QuotaSpec, error) {
	out := make([]QuotaSpec, len(users))
	copy(out, users)
	prev := map[string]QuotaSpec{}
	for _, q := range opts.Previous {
		prev[q.Name] = q
	}
	var ps problems
	allocateGPUs(host, out, prev, &ps)
	allocatePorts(out, prev, opts.PortRange, &ps)
	allocateCPUs(host, out, prev, &ps)
	return out, ps.err()
}

// gpuKey names a GPU the same way whether given by index or UUID.
func gpuKey(host Host, id string) string {
	if g, ok := host.gpu(id); ok {
		return g.ID
	}
	return id
}

func allocateGPUs(host Host, users []QuotaSpec, prev map[string]QuotaSpec, ps *problems) {
	used := map[string]bool{}
	for _, q := range users {
		for _, id := range q.GPUs.IDs {
			used[gpuKey(host, id)] = true
		}
	}
	take := func(q *QuotaSpec, ids []string) {
		q.GPUs = GPUs{IDs: ids}
		for _, id := range ids {
			used[gpuKey(host, id)] = true
		}
	}
	// All: every host GPU (Validate reports the clash if others have some).
	for i := range users {
		if users[i].GPUs.All {
			var ids []string
			for _, g := range host.GPUs {
				ids = append(ids, g.ID)
			}
			take(&users[i], ids)
		}
	}
	// Previous holdings, then the lowest free ones.
	for i := range users {
		q := &users[i]
		p, ok := prev[q.Name]
		if q.GPUs.Count == 0 || !ok || len(p.GPUs.IDs) != q.GPUs.Count {
			continue
		}
		free := true
		for _, id := range p.GPUs.IDs {
			_, onHost := host.gpu(id)
			free = free && onHost && !used[gpuKey(host, id)]
		}
		if free {
			take(q, slices.Clone(p.GPUs.IDs))
		}
	}
	for i := range users {
		q := &users[i]
		if q.GPUs.Count == 0 {
			continue
		}
		var ids []string
		for _, g := range host.GPUs {
			if len(ids) < q.GPUs.Count && !used[g.ID] {
				ids = append(ids, g.ID)
			}
		}
		if len(ids) < q.GPUs.Count {
			ps.add(q.Name, "gpus", "asks for %d GPUs but only %d of the host's %d are free: %w", q.GPUs.Count, len(ids), len(host.GPUs), ErrNotEnoughGPUs)
			continue
		}
		take(q, ids)
	}
}

func allocatePorts(users []QuotaSpec, prev map[string]QuotaSpec, r PortRange, ps *problems) {
	if r == (PortRange{}) {
		r = DefaultPortRange
	}
	used := map[int]bool{}
	for _, q := range users {
		for _, p := range q.allPorts() {
			used[p.Host] = true
		}
	}
	for i := range users {
		q := &users[i]
		if p, ok := prev[q.Name]; ok && q.Port == PortAuto && p.Port > 0 && !used[p.Port] {
			q.Port = p.Port
			used[p.Port] = true
		}
	}
	next := r.First
	for i := range users {
		q := &users[i]
		if q.Port != PortAuto {
			continue
		}
		for next <= r.Last && used[next] {
			next++
		}
		if next > r.Last {
			ps.add(q.Name, "port", "no free host port left in %d-%d", r.First, r.Last)
			continue
		}
		q.Port = next
		used[next] = true
	}
}

func allocateCPUs(host Host, users []QuotaSpec, prev map[string]QuotaSpec, ps *problems) {
	used := map[int]bool{}
	for _, q := range users {
		if q.Cpuset != CpusetAuto {
			cpus, _ := ParseCPUList(q.Cpuset)
			for _, c := range cpus {
				used[c] = true
			}
		}
	}
	need := func(q *QuotaSpec) int { return int((int64(q.CPUs) + 1e9 - 1) / 1e9) }
	for i := range users {
		q := &users[i]
		p, ok := prev[q.Name]
		if q.Cpuset != CpusetAuto || !ok {
			continue
		}
		cpus, err := ParseCPUList(p.Cpuset)
		if err != nil || len(cpus) != need(q) || slices.ContainsFunc(cpus, func(c int) bool { return used[c] || !slices.Contains(host.CPUs, c) }) {
			continue
		}
		q.Cpuset = p.Cpuset
		for _, c := range cpus {
			used[c] = true
		}
	}
	for i := range users {
		q := &users[i]
		if q.Cpuset != CpusetAuto {
			continue
		}
		n := need(q)
		if n == 0 {
			ps.add(q.Name, "cpuset", "cpuset: auto needs cpus to say how many CPUs to pin")
			continue
		}
		var cpus []int
		for _, c := range host.CPUs {
			if len(cpus) < n && !used[c] {
				cpus = append(cpus, c)
			}
		}
		if len(cpus) < n {
			ps.add(q.Name, "cpuset", "needs %d CPUs for cpus %s but only %d of the host's %d are not pinned to other users", n, q.CPUs, len(cpus), host.NumCPU())
			continue
		}
		for _, c := range cpus {
			used[c] = true
		}
		q.Cpuset = FormatCPUList(cpus)
	}
}

// String is used in messages.
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }
