package quota

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/tendkit/tend/units"
)

// MinMemory is docker's smallest memory limit ("Minimum memory limit
// allowed is 6MB").
const MinMemory = 6 * units.MiB

// TorchShmMin is the /dev/shm size below which Validate warns for images
// that run PyTorch.
const TorchShmMin = units.GiB

// DockerShmDefault is what /dev/shm gets when shm_size is not set.
const DockerShmDefault = 64 * units.MiB

// ValidateOptions tune Validate.
type ValidateOptions struct {
	// Headroom is the share of host memory the users' memory limits may
	// sum to (0 = DefaultHeadroom, 90%).
	Headroom units.Percent
	// HostByHand says the host was described by hand (a spec's `host:`)
	// rather than read from the machine the output runs on. Then `gpus:
	// all` on a host described without GPUs is only a warning and renders
	// as all the GPUs of wherever it runs; otherwise it is a problem
	// (ErrNoGPUs).
	HostByHand bool
}

var (
	validUser = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]*)?$`)
	validIPC  = regexp.MustCompile(`^(|none|private|shareable|host|(container|service):[a-zA-Z0-9][a-zA-Z0-9_.-]*)$`)
)

// Validate checks allocated users against the host before docker runs:
// first every error the docker daemon (or CLI) would raise — memory under
// 6 MiB, swap below memory or without memory, reservation above memory,
// CPUs outside 0.01..N or finer than a billionth, a cpuset the host does
// not have, bad ulimits, bad ipc modes, names and image references docker
// refuses — and what Kubernetes would refuse (user names that are not
// DNS-1123 labels, env names such as "1BAD"), then what docker accepts and
// users regret: memory limits summing to more than the headroom share of
// host memory, shm_size eating the memory limit (or ignored under ipc:
// host), GPU requests on a host without GPUs, GPU ids not on the host or
// shared by two users, duplicate names, host ports and writable volume
// paths, a secret referenced from env but not mounted, uncapped logs. It
// returns every error at once as a *multierror.Error of *Problem (nil when
// there is none) and, apart, the warnings: no memory limit, docker's
// implicit swap of 2x memory, unlimited swap (memory_swap: -1), a /dev/shm under 1 GiB for an image that
// runs PyTorch, logs not capped. It runs in time linear in the users.
func Validate(host Host, users []QuotaSpec, opts ValidateOptions) (warnings []*Problem, err error) {
	var ps problems
	validate(indexHost(host), users, opts, &ps)
	return ps.warnings, ps.err()
}

func validate(hx *hostIndex, users []QuotaSpec, opts ValidateOptions, ps *problems) {
	images := map[string]error{} // most users share an image: parse each once
	for i := range users {
		q := &users[i]
		validateMemory(hx, i, q, ps)
		validateCPUs(hx, i, q, ps)
		validateGPUs(hx, i, q, opts, ps)
		validateShm(i, q, ps)
		validateMisc(i, q, images, ps)
	}
	validateShared(hx, users, opts, ps)
}

func validateMemory(hx *hostIndex, i int, q *QuotaSpec, ps *problems) {
	u := q.Name
	switch {
	case q.Memory == 0:
		ps.warn(i, u, "memory", "no memory limit: the container may use all of the host's memory")
	case q.Memory < MinMemory:
		ps.add(i, u, "memory", "%s is below docker's minimum of 6MiB (\"Minimum memory limit allowed is 6MB\")", q.Memory)
	case hx.Memory > 0 && q.Memory > hx.Memory:
		ps.add(i, u, "memory", "%s is more than the host's %s", q.Memory, hx.Memory.Human())
	}
	if r := q.MemoryReservation; r > 0 && r < MinMemory {
		ps.add(i, u, "memory_reservation", "%s is below docker's minimum of 6MiB (\"Minimum memory reservation allowed is 6MB\")", r)
	} else if r > 0 && q.Memory > 0 && r > q.Memory {
		ps.add(i, u, "memory_reservation", "%s is above the memory limit %s (docker: \"Minimum memory limit can not be less than memory reservation limit\")", r, q.Memory)
	}
	switch s := q.MemorySwap; {
	case s != 0 && q.Memory == 0:
		ps.add(i, u, "memory_swap", "set without memory (docker: \"You should always set the Memory limit when using Memoryswap limit\")")
	case s > 0 && s < q.Memory:
		ps.add(i, u, "memory_swap", "%s is below the memory limit %s: memory_swap is memory plus swap (docker: \"Minimum memoryswap limit should be larger than memory limit\")", s, q.Memory)
	case s < 0 && q.Memory > 0:
		ps.warn(i, u, "memory_swap", "-1: unlimited swap: the container may fill the host's swap once it reaches its %s memory limit; set memory_swap to %s for no swap", q.Memory, q.Memory)
	case s == 0 && q.Memory > 0:
		ps.warn(i, u, "memory_swap", "not set: docker then allows as much swap as memory, %s of memory and swap in all; set memory_swap to %s for no swap", 2*q.Memory, q.Memory)
		because(&ps.warnings, "memory")
	}
}

func validateCPUs(hx *hostIndex, i int, q *QuotaSpec, ps *problems) {
	u, n := q.Name, hx.NumCPU()
	if q.CPUs != 0 && (q.CPUs < 1e7 || (n > 0 && int64(q.CPUs) > int64(n)*1e9)) {
		ps.add(i, u, "cpus", "%s is out of range: docker allows 0.01 to %d.00, as the host has %d CPUs", q.CPUs, n, n)
	}
	if q.Cpuset == "" {
		return
	}
	if q.Cpuset == CpusetAuto {
		ps.add(i, u, "cpuset", "auto was not resolved (run Allocate first)")
		return
	}
	cpus, err := ParseCPUList(q.Cpuset)
	if err != nil {
		ps.add(i, u, "cpuset", "%w", err)
		return
	}
	var missing []int
	for _, c := range cpus {
		if !hx.hasCPU(c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		ps.add(i, u, "cpuset", "requested CPUs %s are not on the host (available: %s)", FormatCPUList(missing), FormatCPUList(hx.CPUs))
	}
	if q.CPUs > NanoCPUs(len(cpus))*1e9 {
		ps.add(i, u, "cpus", "%s is more than the %d CPUs of cpuset %s: the container can never use them", q.CPUs, len(cpus), q.Cpuset)
	}
}

func validateGPUs(hx *hostIndex, i int, q *QuotaSpec, opts ValidateOptions, ps *problems) {
	switch {
	case q.GPUs.All && len(hx.GPUs) == 0 && opts.HostByHand:
		ps.warn(i, q.Name, "gpus", "all, on a host described without GPUs: the container gets every GPU of the machine it runs on")
		return
	case q.GPUs.All && len(hx.GPUs) == 0:
		ps.add(i, q.Name, "gpus", "all, but the host has no GPU: the container would run without one (describe the target host under `host:` to render for another machine): %w", ErrNoGPUs)
		return
	case !q.GPUs.Resolved():
		ps.add(i, q.Name, "gpus", "a GPU request was not resolved to device ids (run Allocate first)")
		return
	}
	seen := make(map[string]bool, len(q.GPUs.IDs))
	for _, id := range q.GPUs.IDs {
		if _, ok := hx.gpu[id]; !ok {
			var have []string
			for j, g := range hx.GPUs {
				if j == 16 {
					have = append(have, "...")
					break
				}
				have = append(have, g.ID)
			}
			ps.add(i, q.Name, "gpus", "GPU %q is not on the host (it has %s): %w", id, orNone(have), ErrGPUNotOnHost)
		}
		k := hx.gpuKey(id)
		if twice, dup := seen[k]; dup && !twice {
			ps.add(i, q.Name, "gpus", "GPU %q is listed twice", id)
		}
		seen[k] = dup(seen, k)
	}
}

// dup returns whether k is already in seen (so it is reported once).
func dup(seen map[string]bool, k string) bool {
	_, ok := seen[k]
	return ok
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

func validateShm(i int, q *QuotaSpec, ps *problems) {
	u := q.Name
	if q.IPC == "host" {
		if q.ShmSize > 0 {
			ps.warn(i, u, "shm_size", "docker ignores shm_size %s with ipc: host; /dev/shm is the host's", q.ShmSize)
		}
		return
	}
	shm := q.ShmSize
	if shm == 0 {
		shm = DockerShmDefault
	}
	if q.Memory > 0 && shm >= q.Memory {
		ps.add(i, u, "shm_size", "%s is not below the memory limit %s: what is written to /dev/shm counts against memory", shm, q.Memory)
		because(&ps.errs, "memory")
	}
	if runsTorch(q.Image) && shm < TorchShmMin {
		ps.warn(i, u, "shm_size", "/dev/shm of %s is under 1GiB: PyTorch DataLoader workers die with \"Bus error\" (set shm_size: 8GiB or ipc: host)", shm)
		because(&ps.warnings, "image")
	}
}

func validateMisc(i int, q *QuotaSpec, images map[string]error, ps *problems) {
	u := q.Name
	err, ok := images[q.Image]
	if !ok {
		err = checkImage(q.Image)
		images[q.Image] = err
	}
	if err != nil {
		ps.add(i, u, "image", "%w", err)
	}
	if q.User != "" && !validUser.MatchString(q.User) {
		ps.add(i, u, "user", "%.80q is not a user (NAME, UID or UID:GID)", q.User)
	}
	if !validIPC.MatchString(q.IPC) {
		ps.add(i, u, "ipc", "%.80q is not an ipc mode (none, private, shareable, host, container:NAME)", q.IPC)
	}
	validateUlimits(i, q, ps)
	if q.Port == PortAuto {
		ps.add(i, u, "port", "auto was not resolved (run Allocate first)")
	}
	targets := map[string]bool{}
	for _, v := range q.allVolumes() {
		// "/data" and "/data/" are one mount point (docker: "Duplicate
		// mount point"); /dev/shm and the secrets' directory are tend's.
		t := path.Clean(v.Target)
		switch {
		case targets[t]:
			ps.add(i, u, "volumes", "two volumes are mounted at %s", t)
		case t == "/dev/shm":
			ps.add(i, u, "volumes", "%s is mounted over /dev/shm: set shm_size (or ipc: host) instead (docker ignores shm_size under such a mount; a Pod cannot mount /dev/shm twice)", v.Source)
		case len(q.Secrets) > 0 && (t == SecretsDir || strings.HasPrefix(t, SecretsDir+"/")):
			ps.add(i, u, "volumes", "%s is mounted at %s, where the user's secrets are mounted: choose another place", v.Source, t)
		}
		targets[t] = true
	}
	for k, v := range q.Env {
		if !isEnvVarName(k) {
			ps.add(i, u, "env."+k, "%.80q is not an environment variable name Kubernetes accepts (letters, digits, '_', '-', '.', not starting with a digit): %w", k, ErrBadName)
		}
		if strings.IndexByte(v, 0) >= 0 {
			ps.add(i, u, "env."+k, "%.80q: the value holds a NUL byte", k)
		}
	}
	q.Logging.validate(i, u, ps)
	if !q.Logging.Capped() {
		ps.warn(i, u, "logging", "the container's log is not capped (max_size: unlimited): it can fill the host's disk")
	}
	validateSecrets(i, q, ps)
}

func validateUlimits(i int, q *QuotaSpec, ps *problems) {
	u := q.Name
	seen, twice := map[string]bool{}, map[string]bool{}
	for _, l := range q.Ulimits {
		f := "ulimits." + l.Name
		switch {
		case !ulimitNames[l.Name]:
			ps.add(i, u, f, "unknown ulimit %.40q (docker knows core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)", l.Name)
		case seen[l.Name]:
			if !twice[l.Name] {
				ps.add(i, u, f, "ulimit %s set twice", l.Name)
				twice[l.Name] = true
			}
		case l.Soft < -1 || l.Hard < -1:
			ps.add(i, u, f, "ulimit %s: negative (only -1, unlimited, is allowed)", l.Name)
		case l.Hard != -1 && (l.Soft == -1 || l.Soft > l.Hard):
			ps.add(i, u, f, "ulimit %s: soft limit %d is above the hard limit %d (docker: \"ulimit soft limit must be less than or equal to hard limit\")", l.Name, l.Soft, l.Hard)
		}
		seen[l.Name] = true
	}
}

// validateSecrets checks that every secret is defined (has a file) and
// that env values pointing into /run/secrets name a mounted secret.
func validateSecrets(i int, q *QuotaSpec, ps *problems) {
	have := make(map[string]bool, len(q.Secrets)) // name -> reported twice
	for _, s := range q.Secrets {
		if _, dup := have[s.Name]; dup {
			if !have[s.Name] { // once per name
				ps.add(i, q.Name, "secrets", "secret %.80q is listed twice", s.Name)
				have[s.Name] = true
			}
			continue
		}
		have[s.Name] = false
		if err := validSecretName(s.Name); err != nil {
			ps.add(i, q.Name, "secrets", "%w", err)
		} else if s.File == "" {
			ps.add(i, q.Name, "secrets", "secret %q is not defined: add it to the spec's top-level `secrets:` with its file: %w", s.Name, ErrUnknownSecret)
		}
	}
	for k, v := range q.Env {
		rest, ok := strings.CutPrefix(v, SecretsDir+"/")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		if _, ok := have[name]; !ok {
			ps.add(i, q.Name, "env."+k, "%s points at secret %.80q, which this user does not mount: list it under the user's (or the defaults') `secrets:` and define it in the top-level `secrets:`: %w", k, name, ErrUnknownSecret)
		}
	}
}

// validateShared checks what users share: names, GPUs, ports, volumes and
// the host's memory.
func validateShared(hx *hostIndex, users []QuotaSpec, opts ValidateOptions, ps *problems) {
	names := make(map[string]int, len(users))
	gpus := map[string]int{}
	ports := map[string]int{}
	vols := map[string]int{}
	var sum units.Size
	allGPUs := -1
	for i := range users {
		if _, ok := names[users[i].Name]; !ok {
			names[users[i].Name] = i
		}
	}
	mapped := map[string]int{} // a bad name's suggestion -> the first user with it
	for i := range users {
		q := &users[i]
		first := names[q.Name]
		if first != i && q.Name != "" {
			ps.errs = append(ps.errs, &Problem{User: q.Name, Field: "name", index: i + 1,
				Err: &duplicateNameError{name: q.Name, first: first}})
		}
		if err := checkUserName(q.Name); err != nil {
			// A bad name's suggestion must not be another user's name, or
			// what another bad name maps to: name that user too.
			if b, ok := err.(*badNameError); ok && b.suggest != "" && first == i {
				if j, taken := names[b.suggest]; taken {
					b.other = j
				} else if j, taken := mapped[b.suggest]; taken {
					b.other, b.otherMapped = j, true
				} else {
					mapped[b.suggest] = i
				}
			}
			ps.add(i, q.Name, "name", "%w", err)
		}
		if q.Memory > 0 {
			sum += q.Memory
		}
		if q.GPUs.All && len(hx.GPUs) == 0 {
			if allGPUs >= 0 {
				ps.add(i, q.Name, "gpus", "all, as %s also asks: %w", users[allGPUs].Name, ErrGPUConflict)
			} else if len(gpus) > 0 {
				ps.add(i, q.Name, "gpus", "all, while other users have GPUs: %w", ErrGPUConflict)
			}
			allGPUs = i
		}
		for _, id := range q.GPUs.IDs {
			k := hx.gpuKey(id)
			if other, ok := gpus[k]; ok && other != i {
				ps.add(i, q.Name, "gpus", "GPU %s is also %s's: %w", id, users[other].Name, ErrGPUConflict)
			}
			gpus[k] = i
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
				ps.add(i, q.Name, field, "host port %s is also published by %s: %w", k, users[other].Name, ErrPortConflict)
			}
			ports[k] = i
		}
		for _, v := range q.allVolumes() {
			if v.ReadOnly {
				continue
			}
			if other, ok := vols[v.Source]; ok && other != i {
				ps.add(i, q.Name, "volumes", "%s is also mounted writable by %s", v.Source, users[other].Name)
			}
			vols[v.Source] = i
		}
	}
	h := opts.Headroom
	if h == 0 {
		h = DefaultHeadroom
	}
	if limit := units.Size(h.Of(int64(hx.Memory))); hx.Memory > 0 && sum > limit {
		ps.errs = append(ps.errs, &Problem{Field: "headroom", Err: fmt.Errorf(
			"the users' memory limits sum to %s, over %s of the host's %s (%s): %w", sum.Human(), h, hx.Memory.Human(), limit.Human(), ErrOverHeadroom)})
	}
}

// duplicateNameError is the problem of a second user with a name already
// taken; Spec.Plan fills in the first one's line.
type duplicateNameError struct {
	name      string
	first     int // index of the first user with the name
	firstLine int
}

func (e *duplicateNameError) Error() string {
	if e.firstLine > 0 {
		return fmt.Sprintf("two users are named %q: this one and the one on line %d (users[%d]); names must be unique", e.name, e.firstLine, e.first)
	}
	return fmt.Sprintf("two users are named %q: this one and users[%d]; names must be unique", e.name, e.first)
}

// withOtherLine returns err with the line of the other user it names
// filled in by lineOf (for Spec.Plan, which knows the lines); other
// errors come back as they are.
func withOtherLine(err error, lineOf func(i int) int) error {
	var dup *duplicateNameError
	if errors.As(err, &dup) {
		d := *dup
		d.firstLine = lineOf(d.first)
		return &d
	}
	var bad *badNameError
	if errors.As(err, &bad) && bad.other >= 0 {
		b := *bad
		b.otherLine = lineOf(b.other)
		return &b
	}
	return err
}

func (e *duplicateNameError) Unwrap() error { return ErrDuplicateName }
