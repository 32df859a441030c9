package quota

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tendkit/tend/units"
)

// MinMemory is docker's smallest memory limit ("Minimum memory limit
// allowed is 6MB").
const MinMemory = 6 * units.MiB

// TorchShmMin is the /dev/shm size below which Validate warns for images
// that run PyTorch.
const TorchShmMin = units.GiB

// dockerShmDefault is what /dev/shm gets when shm_size is not set.
const dockerShmDefault = 64 * units.MiB

// ValidateOptions tune Validate.
type ValidateOptions struct {
	// Headroom is the share of host memory the users' memory limits may
	// sum to (0 = DefaultHeadroom, 90%).
	Headroom units.Percent
}

var (
	validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	validUser = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]*)?$`)
	validIPC  = regexp.MustCompile(`^(|none|private|shareable|host|(container|service):[a-zA-Z0-9][a-zA-Z0-9_.-]*)$`)
)

// Validate checks allocated users against the host before docker runs:
// first every error the docker daemon (or CLI) would raise — memory under
// 6 MiB, swap below memory or without memory, reservation above memory,
// CPUs outside 0.01..N or finer than a billionth, a cpuset the host does
// not have, bad ulimits, bad ipc modes — then what docker accepts and
// users regret: memory limits summing to more than the headroom share of
// host memory, shm_size eating the memory limit (or ignored under ipc:
// host), GPU ids not on the host or shared by two users, duplicate names,
// host ports and writable volume paths. It returns every error at once as
// a *multierror.Error of *Problem (nil when there is none) and, apart,
// the warnings: no memory limit, docker's implicit swap of 2x memory, and
// a /dev/shm under 1 GiB for an image that runs PyTorch.
func Validate(host Host, users []QuotaSpec, opts ValidateOptions) (warnings []*Problem, err error) {
	var ps problems
	for _, q := range users {
		validateMemory(host, q, &ps)
		validateCPUs(host, q, &ps)
		validateGPUs(host, q, &ps)
		validateShm(q, &ps)
		validateMisc(q, &ps)
	}
	validateShared(host, users, opts, &ps)
	return ps.warnings, ps.err()
}

func validateMemory(host Host, q QuotaSpec, ps *problems) {
	u := q.Name
	switch {
	case q.Memory == 0:
		ps.warn(u, "memory", "no memory limit: the container may use all of the host's memory")
	case q.Memory < MinMemory:
		ps.add(u, "memory", "%s is below docker's minimum of 6MiB (\"Minimum memory limit allowed is 6MB\")", q.Memory)
	case host.Memory > 0 && q.Memory > host.Memory:
		ps.add(u, "memory", "%s is more than the host's %s", q.Memory, host.Memory.Human())
	}
	if r := q.MemoryReservation; r > 0 && r < MinMemory {
		ps.add(u, "memory_reservation", "%s is below docker's minimum of 6MiB (\"Minimum memory reservation allowed is 6MB\")", r)
	} else if r > 0 && q.Memory > 0 && r > q.Memory {
		ps.add(u, "memory_reservation", "%s is above the memory limit %s (docker: \"Minimum memory limit can not be less than memory reservation limit\")", r, q.Memory)
	}
	switch s := q.MemorySwap; {
	case s != 0 && q.Memory == 0:
		ps.add(u, "memory_swap", "set without memory (docker: \"You should always set the Memory limit when using Memoryswap limit\")")
	case s > 0 && s < q.Memory:
		ps.add(u, "memory_swap", "%s is below the memory limit %s: memory_swap is memory plus swap (docker: \"Minimum memoryswap limit should be larger than memory limit\")", s, q.Memory)
	case s == 0 && q.Memory > 0:
		ps.warn(u, "memory_swap", "not set: docker then allows as much swap as memory, %s of memory and swap in all; set memory_swap to %s for no swap", 2*q.Memory, q.Memory)
	}
}

func validateCPUs(host Host, q QuotaSpec, ps *problems) {
	u, n := q.Name, host.NumCPU()
	if q.CPUs != 0 && (q.CPUs < 1e7 || (n > 0 && int64(q.CPUs) > int64(n)*1e9)) {
		ps.add(u, "cpus", "%s is out of range: docker allows 0.01 to %d.00, as the host has %d CPUs", q.CPUs, n, n)
	}
	if q.Cpuset == "" {
		return
	}
	if q.Cpuset == CpusetAuto {
		ps.add(u, "cpuset", "auto was not resolved (run Allocate first)")
		return
	}
	cpus, err := ParseCPUList(q.Cpuset)
	if err != nil {
		ps.add(u, "cpuset", "%v", err)
		return
	}
	var missing []int
	for _, c := range cpus {
		if !slices.Contains(host.CPUs, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		ps.add(u, "cpuset", "requested CPUs %s are not on the host (available: %s)", FormatCPUList(missing), FormatCPUList(host.CPUs))
	}
	if q.CPUs > NanoCPUs(len(cpus))*1e9 {
		ps.add(u, "cpus", "%s is more than the %d CPUs of cpuset %s: the container can never use them", q.CPUs, len(cpus), q.Cpuset)
	}
}

func validateGPUs(host Host, q QuotaSpec, ps *problems) {
	if !q.GPUs.Resolved() {
		ps.add(q.Name, "gpus", "a GPU count was not resolved to device ids (run Allocate first)")
		return
	}
	seen := map[string]bool{}
	for _, id := range q.GPUs.IDs {
		if _, ok := host.gpu(id); !ok {
			var have []string
			for _, g := range host.GPUs {
				have = append(have, g.ID)
			}
			ps.add(q.Name, "gpus", "GPU %q is not on the host (it has %s): %w", id, orNone(have), ErrGPUNotOnHost)
		}
		k := gpuKey(host, id)
		if seen[k] {
			ps.add(q.Name, "gpus", "GPU %q is listed twice", id)
		}
		seen[k] = true
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// runsTorch guesses from the image name whether the container runs PyTorch.
func runsTorch(image string) bool {
	return strings.Contains(strings.ToLower(image), "torch")
}

func validateShm(q QuotaSpec, ps *problems) {
	u := q.Name
	if q.IPC == "host" {
		if q.ShmSize > 0 {
			ps.warn(u, "shm_size", "docker ignores shm_size %s with ipc: host; /dev/shm is the host's", q.ShmSize)
		}
		return
	}
	shm := q.ShmSize
	if shm == 0 {
		shm = dockerShmDefault
	}
	if q.Memory > 0 && shm >= q.Memory {
		ps.add(u, "shm_size", "%s is not below the memory limit %s: what is written to /dev/shm counts against memory", shm, q.Memory)
	}
	if runsTorch(q.Image) && shm < TorchShmMin {
		ps.warn(u, "shm_size", "/dev/shm of %s is under 1GiB: PyTorch DataLoader workers die with \"Bus error\" (set shm_size: 8GiB or ipc: host)", shm)
	}
}

func validateMisc(q QuotaSpec, ps *problems) {
	u := q.Name
	if !validName.MatchString(q.Name) {
		ps.add(u, "name", "%q is not a valid container name (letters, digits, _ . -; at least 2 characters)", q.Name)
	}
	if q.Image == "" {
		ps.add(u, "image", "missing: the image to run")
	} else if strings.ContainsAny(q.Image, " \t\n$") {
		ps.add(u, "image", "%q is not an image reference", q.Image)
	}
	if q.User != "" && !validUser.MatchString(q.User) {
		ps.add(u, "user", "%q is not a user (NAME, UID or UID:GID)", q.User)
	}
	if !validIPC.MatchString(q.IPC) {
		ps.add(u, "ipc", "%q is not an ipc mode (none, private, shareable, host, container:NAME)", q.IPC)
	}
	seen := map[string]bool{}
	for _, l := range q.Ulimits {
		f := "ulimits." + l.Name
		switch {
		case !ulimitNames[l.Name]:
			ps.add(u, f, "unknown ulimit %q (docker knows core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)", l.Name)
		case seen[l.Name]:
			ps.add(u, f, "ulimit %s set twice", l.Name)
		case l.Soft < -1 || l.Hard < -1:
			ps.add(u, f, "ulimit %s: negative (only -1, unlimited, is allowed)", l.Name)
		case l.Hard != -1 && (l.Soft == -1 || l.Soft > l.Hard):
			ps.add(u, f, "ulimit %s: soft limit %d is above the hard limit %d (docker: \"ulimit soft limit must be less than or equal to hard limit\")", l.Name, l.Soft, l.Hard)
		}
		seen[l.Name] = true
	}
	if q.Port == PortAuto {
		ps.add(u, "port", "auto was not resolved (run Allocate first)")
	}
	targets := map[string]bool{}
	for _, v := range q.allVolumes() {
		if targets[v.Target] {
			ps.add(u, "volumes", "two volumes are mounted at %s", v.Target)
		}
		targets[v.Target] = true
	}
	for k := range q.Env {
		if k == "" || strings.ContainsAny(k, "= \t\n") {
			ps.add(u, "env", "%q is not an environment variable name", k)
		}
	}
}

// validateShared checks what users share: names, GPUs, ports, volumes and
// the host's memory.
func validateShared(host Host, users []QuotaSpec, opts ValidateOptions, ps *problems) {
	names := map[string]bool{}
	gpus := map[string]string{}
	ports := map[string]string{}
	vols := map[string]string{}
	var sum units.Size
	for _, q := range users {
		if names[q.Name] && q.Name != "" {
			ps.add(q.Name, "name", "two users are named %q", q.Name)
		}
		names[q.Name] = true
		if q.Memory > 0 {
			sum += q.Memory
		}
		for _, id := range q.GPUs.IDs {
			k := gpuKey(host, id)
			if other, ok := gpus[k]; ok && other != q.Name {
				ps.add(q.Name, "gpus", "GPU %s is also %s's: %w", id, other, ErrGPUConflict)
			}
			gpus[k] = q.Name
		}
		for _, p := range q.allPorts() {
			proto := p.Protocol
			if proto == "" {
				proto = "tcp"
			}
			k := fmt.Sprintf("%d/%s", p.Host, proto)
			field := "ports"
			if p.Host == q.Port && p.Container == JupyterPort {
				field = "port"
			}
			if other, ok := ports[k]; ok {
				ps.add(q.Name, field, "host port %s is also published by %s: %w", k, other, ErrPortConflict)
			}
			ports[k] = q.Name
		}
		for _, v := range q.allVolumes() {
			if v.ReadOnly {
				continue
			}
			if other, ok := vols[v.Source]; ok && other != q.Name {
				ps.add(q.Name, "volumes", "%s is also mounted writable by %s", v.Source, other)
			}
			vols[v.Source] = q.Name
		}
	}
	h := opts.Headroom
	if h == 0 {
		h = DefaultHeadroom
	}
	if limit := units.Size(h.Of(int64(host.Memory))); host.Memory > 0 && sum > limit {
		ps.errs = append(ps.errs, &Problem{Field: "headroom", Err: fmt.Errorf(
			"the users' memory limits sum to %s, over %s of the host's %s (%s): %w", sum.Human(), h, host.Memory.Human(), limit.Human(), ErrOverHeadroom)})
	}
}
