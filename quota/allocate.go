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
// user never changes the earlier users' resources. Two users never get the
// same GPU from a count, even when they share a name. What cannot be
// allocated is returned as problems (a GPU request on a host without GPUs
// wraps ErrNoGPUs; `gpus: all` then stays unresolved, for Validate to
// judge); the users come back either way, with what could be resolved.
// It runs in time linear in users plus host CPUs and GPUs.
func Allocate(host Host, users []QuotaSpec, opts AllocateOptions) ([]QuotaSpec, error) {
	var ps problems
	out := allocate(host, slices.Clone(users), opts, &ps)
	return out, ps.err()
}

// allocate resolves users in place.
func allocate(host Host, out []QuotaSpec, opts AllocateOptions, ps *problems) []QuotaSpec {
	prev := make(map[string]QuotaSpec, len(opts.Previous))
	for _, q := range opts.Previous {
		prev[q.Name] = q
	}
	hx := indexHost(host)
	allocateGPUs(hx, out, prev, ps)
	allocatePorts(out, prev, opts.PortRange, ps)
	allocateCPUs(hx, out, prev, ps)
	return out
}

// hostIndex answers "is this CPU / GPU on the host" in constant time.
type hostIndex struct {
	Host
	cpu []bool         // by CPU number
	gpu map[string]int // id and UUID -> position in Host.GPUs
}

func indexHost(h Host) *hostIndex {
	hx := &hostIndex{Host: h, gpu: make(map[string]int, 2*len(h.GPUs))}
	top := -1
	for _, c := range h.CPUs {
		top = max(top, c)
	}
	if top >= 0 && top < MaxCPUs {
		hx.cpu = make([]bool, top+1)
		for _, c := range h.CPUs {
			if c >= 0 {
				hx.cpu[c] = true
			}
		}
	}
	for i, g := range h.GPUs {
		if g.UUID != "" {
			hx.gpu[g.UUID] = i
		}
		hx.gpu[g.ID] = i
	}
	return hx
}

func (hx *hostIndex) hasCPU(c int) bool { return c >= 0 && c < len(hx.cpu) && hx.cpu[c] }

// gpuKey names a GPU the same way whether given by index or UUID.
func (hx *hostIndex) gpuKey(id string) string {
	if i, ok := hx.gpu[id]; ok {
		return hx.GPUs[i].ID
	}
	return id
}

func allocateGPUs(hx *hostIndex, users []QuotaSpec, prev map[string]QuotaSpec, ps *problems) {
	used := map[string]bool{}
	for _, q := range users {
		for _, id := range q.GPUs.IDs {
			used[hx.gpuKey(id)] = true
		}
	}
	take := func(q *QuotaSpec, ids []string) {
		q.GPUs = GPUs{IDs: ids}
		for _, id := range ids {
			used[hx.gpuKey(id)] = true
		}
	}
	// All: every host GPU (Validate reports the clash if others have some).
	if len(hx.GPUs) > 0 {
		for i := range users {
			if users[i].GPUs.All {
				ids := make([]string, len(hx.GPUs))
				for j, g := range hx.GPUs {
					ids[j] = g.ID
				}
				take(&users[i], ids)
			}
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
			_, onHost := hx.gpu[id]
			free = free && onHost && !used[hx.gpuKey(id)]
		}
		if free {
			take(q, slices.Clone(p.GPUs.IDs))
		}
	}
	free := 0
	for _, g := range hx.GPUs {
		if !used[g.ID] {
			free++
		}
	}
	// GPUs are taken lowest first: every GPU before next is used.
	next := 0
	for i := range users {
		q := &users[i]
		n := q.GPUs.Count
		switch {
		case n == 0:
			continue
		case len(hx.GPUs) == 0:
			ps.add(i, q.Name, "gpus", "asks for %d GPU(s) but the host has none (describe the target host under `host:` with its `gpus:` to render for another machine): %w", n, ErrNoGPUs)
			continue
		case n > free:
			ps.add(i, q.Name, "gpus", "asks for %d GPUs but only %d of the host's %d are free: %w", n, free, len(hx.GPUs), ErrNotEnoughGPUs)
			continue
		}
		ids := make([]string, 0, n)
		for ; len(ids) < n; next++ {
			if id := hx.GPUs[next].ID; !used[id] {
				ids = append(ids, id)
				used[id] = true
			}
		}
		free -= n
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
			ps.add(i, q.Name, "port", "no free host port left in %d-%d", r.First, r.Last)
			continue
		}
		q.Port = next
		used[next] = true
	}
}

// cpusNeeded is how many whole CPUs `cpuset: auto` pins for q.
func cpusNeeded(q *QuotaSpec) int { return int((int64(q.CPUs) + 1e9 - 1) / 1e9) }

func allocateCPUs(hx *hostIndex, users []QuotaSpec, prev map[string]QuotaSpec, ps *problems) {
	used := map[int]bool{}
	for _, q := range users {
		if q.Cpuset != CpusetAuto && q.Cpuset != "" {
			cpus, _ := ParseCPUList(q.Cpuset)
			for _, c := range cpus {
				used[c] = true
			}
		}
	}
	for i := range users {
		q := &users[i]
		p, ok := prev[q.Name]
		if q.Cpuset != CpusetAuto || !ok {
			continue
		}
		cpus, err := ParseCPUList(p.Cpuset)
		if err != nil || len(cpus) != cpusNeeded(q) || slices.ContainsFunc(cpus, func(c int) bool { return used[c] || !hx.hasCPU(c) }) {
			continue
		}
		q.Cpuset = p.Cpuset
		for _, c := range cpus {
			used[c] = true
		}
	}
	free := 0
	for _, c := range hx.CPUs {
		if !used[c] {
			free++
		}
	}
	// CPUs are taken lowest first, so every CPU before next is used and a
	// request scans only what it takes: linear in users plus CPUs.
	next := 0
	for i := range users {
		q := &users[i]
		if q.Cpuset != CpusetAuto {
			continue
		}
		n := cpusNeeded(q)
		if n == 0 {
			ps.add(i, q.Name, "cpuset", "cpuset: auto needs cpus to say how many CPUs to pin")
			continue
		}
		if n > free {
			ps.add(i, q.Name, "cpuset", "needs %d CPUs for cpus %s but only %d of the host's %d are not pinned to other users", n, q.CPUs, free, hx.NumCPU())
			continue
		}
		cpus := make([]int, 0, n)
		for ; len(cpus) < n; next++ {
			if c := hx.CPUs[next]; !used[c] {
				cpus = append(cpus, c)
				used[c] = true
			}
		}
		free -= n
		q.Cpuset = FormatCPUList(cpus)
	}
}

// String is used in messages.
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }
