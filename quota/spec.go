package quota

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/tendkit/tend/units"
)

// QuotaSpec is one container's share of a host: the limits docker (or
// compose, or Kubernetes) enforces, and what the container needs around
// them (image, user, ports, volumes, environment).
//
// Sizes are bytes (units.Size); zero means "not set". Memory is the hard
// limit (docker --memory); MemoryReservation the soft one. MemorySwap is
// docker's --memory-swap, the total of memory and swap: when it is not set
// and Memory is, docker gives the container as much swap again, so the
// total is 2x Memory; -1 means unlimited swap. CPUs are counted in
// billionths (docker's NanoCPUs), so 0.5 CPUs is 500000000. Cpuset pins the
// container to host CPUs ("0-3,8"), or is "auto" in a request for Allocate
// to pick a block of free CPUs.
//
// GPUs are a count or a list of device ids or UUIDs. A count is resolved
// to concrete ids by Allocate: the renderers never emit `--gpus N`, which
// always means GPUs 0..N-1 and hands two users the same GPU.
//
// ShmSize is the size of /dev/shm (docker's default is 64 MiB, which makes
// PyTorch DataLoader workers die with "Bus error"); it counts against
// Memory, and docker ignores it when IPC is "host". Ulimits default to
// nothing; NVIDIA recommends memlock=-1 and stack=67108864 for CUDA images.
// Port is the host port published for the container's Jupyter port 8888
// (PortAuto: let Allocate pick one); Workspace is a host directory mounted
// at /workspace.
type QuotaSpec struct {
	Name              string            `json:"name"`
	Image             string            `json:"image,omitempty"`
	User              string            `json:"user,omitempty"`
	Memory            units.Size        `json:"memory,omitempty"`
	MemoryReservation units.Size        `json:"memory_reservation,omitempty"`
	MemorySwap        units.Size        `json:"memory_swap,omitempty"`
	CPUs              NanoCPUs          `json:"cpus,omitempty"`
	Cpuset            string            `json:"cpuset,omitempty"`
	GPUs              GPUs              `json:"gpus,omitzero"`
	ShmSize           units.Size        `json:"shm_size,omitempty"`
	IPC               string            `json:"ipc,omitempty"`
	PidsLimit         int64             `json:"pids_limit,omitempty"`
	Ulimits           []Ulimit          `json:"ulimits,omitempty"`
	Port              int               `json:"port,omitempty"`
	Ports             []PortMapping     `json:"ports,omitempty"`
	Workspace         string            `json:"workspace,omitempty"`
	Volumes           []Volume          `json:"volumes,omitempty"`
	Env               map[string]string `json:"env,omitempty"`
	// Logging caps the container's own log (docker's json-file or local
	// driver, max-size and max-file); the zero value is DefaultLogging.
	Logging Logging `json:"logging,omitzero"`
	// Secrets are files mounted read-only at /run/secrets/NAME. In a spec
	// a user names them (`secrets: [jupyter_token]`) and the spec's
	// top-level `secrets:` says which file each is; Spec.Plan fills in File.
	Secrets []Secret `json:"secrets,omitempty"`
}

// PortAuto as QuotaSpec.Port asks Allocate for a free host port.
const PortAuto = -1

// JupyterPort is the container port that QuotaSpec.Port publishes.
const JupyterPort = 8888

// WorkspaceDir is where QuotaSpec.Workspace is mounted in the container.
const WorkspaceDir = "/workspace"

// CpusetAuto as QuotaSpec.Cpuset asks Allocate for a block of free CPUs.
const CpusetAuto = "auto"

// ParseCPUs parses "2", "0.5" or "500m" (Kubernetes millicores). More than
// nine decimals is an error, as it is for docker ("value is too precise").
func ParseCPUs(s string) (NanoCPUs, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && n >= 0 && n <= math.MaxInt64/1_000_000_000 {
		return NanoCPUs(n * 1e9), nil // the common case, without big.Rat
	}
	r := new(big.Rat)
	// Exponents are refused before math/big sees them: "1e999999999"
	// would take it minutes and gigabytes.
	if len(t) > maxNumberText {
		return 0, fmt.Errorf("cpus %.20q...: too long for a number of CPUs", s)
	}
	if m, ok := strings.CutSuffix(t, "m"); ok {
		if strings.ContainsAny(m, "eEpPxX/+-_") {
			return 0, fmt.Errorf("cpus %q: not a number of CPUs", s)
		}
		if _, ok := r.SetString(m); !ok {
			return 0, fmt.Errorf("cpus %q: not a number of CPUs", s)
		}
		r.Quo(r, big.NewRat(1000, 1))
	} else if strings.ContainsAny(t, "eEpPxX/+_") {
		return 0, fmt.Errorf("cpus %q: not a number of CPUs (use 2, 0.5 or 500m)", s)
	} else if _, ok := r.SetString(t); !ok {
		return 0, fmt.Errorf("cpus %q: not a number of CPUs (use 2, 0.5 or 500m)", s)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("cpus %q: negative", s)
	}
	r.Mul(r, big.NewRat(1e9, 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("cpus %q: value is too precise (docker counts CPUs in billionths)", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("cpus %q: too large", s)
	}
	return NanoCPUs(r.Num().Int64()), nil
}

// GPUs is a GPU request: a count to be resolved by Allocate, all of the
// host's GPUs, or concrete device ids or UUIDs. None says that the user
// asked for no GPU (`gpus: 0` or `gpus: []`), so that the defaults' GPUs
// are not inherited.
type GPUs struct {
	Count int      `json:"count,omitempty"`
	All   bool     `json:"all,omitempty"`
	IDs   []string `json:"ids,omitempty"`
	None  bool     `json:"none,omitempty"`
}

// IsZero reports whether no GPU is requested.
func (g GPUs) IsZero() bool { return g.Count == 0 && !g.All && len(g.IDs) == 0 }

// Resolved reports whether the request names concrete devices (or none).
func (g GPUs) Resolved() bool { return g.Count == 0 && !g.All }

// ulimitNames are the limits docker knows (--ulimit NAME=...).
var ulimitNames = map[string]bool{
	"core": true, "cpu": true, "data": true, "fsize": true, "locks": true,
	"memlock": true, "msgqueue": true, "nice": true, "nofile": true, "nproc": true,
	"rss": true, "rtprio": true, "rttime": true, "sigpending": true, "stack": true,
}

// PortMapping publishes a container port on the host.
type PortMapping struct {
	IP        string `json:"ip,omitempty"`
	Host      int    `json:"host"`
	Container int    `json:"container"`
	Protocol  string `json:"protocol,omitempty"` // tcp (default) or udp
}

// String prints the mapping as docker -p reads it ("127.0.0.1:2222:22/udp").
func (p PortMapping) String() string {
	s := fmt.Sprintf("%d:%d", p.Host, p.Container)
	if p.IP != "" {
		s = p.IP + ":" + s
	}
	if p.Protocol != "" && p.Protocol != "tcp" {
		s += "/" + p.Protocol
	}
	return s
}

// ParsePortMapping parses "HOST:CONTAINER", "IP:HOST:CONTAINER", each
// optionally followed by "/tcp" or "/udp".
func ParsePortMapping(s string) (PortMapping, error) {
	var p PortMapping
	rest := s
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		p.Protocol, rest = rest[i+1:], rest[:i]
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return p, fmt.Errorf("port %q: protocol %q (use tcp or udp)", s, p.Protocol)
		}
	}
	parts := strings.Split(rest, ":")
	switch len(parts) {
	case 2:
	case 3:
		p.IP, parts = parts[0], parts[1:]
		if a, err := netip.ParseAddr(p.IP); p.IP != "" && (err != nil || !a.Is4()) {
			return p, fmt.Errorf("port %q: %q is not an IPv4 address", s, p.IP)
		}
	default:
		return p, fmt.Errorf("port %q: use HOST:CONTAINER or IP:HOST:CONTAINER", s)
	}
	var err error
	if p.Host, err = parsePort(parts[0]); err != nil {
		return p, fmt.Errorf("port %q: host port: %w", s, err)
	}
	if p.Container, err = parsePort(parts[1]); err != nil {
		return p, fmt.Errorf("port %q: container port: %w", s, err)
	}
	return p, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number from 1 to 65535", s)
	}
	return n, nil
}

// Volume mounts a host directory into the container.
type Volume struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// String prints the volume as docker -v reads it ("/data:/data:ro").
func (v Volume) String() string {
	s := v.Source + ":" + v.Target
	if v.ReadOnly {
		s += ":ro"
	}
	return s
}

// ParseVolume parses "SOURCE:TARGET" with an optional ":ro" or ":rw".
func ParseVolume(s string) (Volume, error) {
	parts := strings.Split(s, ":")
	var v Volume
	switch {
	case len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"):
		v.ReadOnly = parts[2] == "ro"
	case len(parts) != 2:
		return v, fmt.Errorf("volume %q: use SOURCE:TARGET[:ro]", s)
	}
	v.Source, v.Target = parts[0], parts[1]
	if !strings.HasPrefix(v.Source, "/") || !strings.HasPrefix(v.Target, "/") {
		return v, fmt.Errorf("volume %q: both paths must be absolute", s)
	}
	return v, nil
}

// Volumes returns the container's mounts: the workspace first, then Volumes.
func (q QuotaSpec) allVolumes() []Volume {
	var vs []Volume
	if q.Workspace != "" {
		vs = append(vs, Volume{Source: q.Workspace, Target: WorkspaceDir})
	}
	return append(vs, q.Volumes...)
}

// allPorts returns the published ports: the Jupyter port first, then Ports.
func (q QuotaSpec) allPorts() []PortMapping {
	var ps []PortMapping
	if q.Port > 0 {
		ps = append(ps, PortMapping{Host: q.Port, Container: JupyterPort})
	}
	return append(ps, q.Ports...)
}

// WithDefaults returns q with every unset field taken from d (GPUs.None
// counts as set). Ulimits and
// Env are merged by name (q wins), Volumes and Ports are d's then q's.
func (q QuotaSpec) WithDefaults(d QuotaSpec) QuotaSpec {
	pick := func(a, b string) string {
		if a == "" {
			return b
		}
		return a
	}
	q.Image, q.User, q.Cpuset = pick(q.Image, d.Image), pick(q.User, d.User), pick(q.Cpuset, d.Cpuset)
	q.IPC, q.Workspace = pick(q.IPC, d.IPC), pick(q.Workspace, d.Workspace)
	for _, f := range []struct{ q, d *units.Size }{
		{&q.Memory, &d.Memory}, {&q.MemoryReservation, &d.MemoryReservation},
		{&q.MemorySwap, &d.MemorySwap}, {&q.ShmSize, &d.ShmSize},
	} {
		if *f.q == 0 {
			*f.q = *f.d
		}
	}
	if q.CPUs == 0 {
		q.CPUs = d.CPUs
	}
	if q.GPUs.IsZero() && !q.GPUs.None {
		q.GPUs = GPUs{Count: d.GPUs.Count, All: d.GPUs.All, IDs: slices.Clip(d.GPUs.IDs)}
	}
	if q.PidsLimit == 0 {
		q.PidsLimit = d.PidsLimit
	}
	if q.Port == 0 {
		q.Port = d.Port
	}
	// Where the user adds nothing, the defaults' slices are shared, clipped
	// so that an append by the caller copies instead of writing into them.
	if len(q.Ulimits) == 0 {
		q.Ulimits = slices.Clip(d.Ulimits)
	} else {
		var ul []Ulimit
		for _, u := range d.Ulimits {
			if !hasUlimit(q.Ulimits, u.Name) {
				ul = append(ul, u)
			}
		}
		q.Ulimits = append(ul, q.Ulimits...)
	}
	q.Ports = concat(d.Ports, q.Ports)
	q.Volumes = concat(d.Volumes, q.Volumes)
	if len(d.Env) > 0 {
		if len(q.Env) == 0 {
			q.Env = d.Env // shared, never written: renderers only read it
		} else {
			env := maps.Clone(d.Env)
			maps.Copy(env, q.Env)
			q.Env = env
		}
	}
	q.Logging = q.Logging.withDefaults(d.Logging)
	for _, s := range d.Secrets {
		if !slices.ContainsFunc(q.Secrets, func(x Secret) bool { return x.Name == s.Name }) {
			q.Secrets = append(q.Secrets, s)
		}
	}
	return q
}

// concat returns a then b, sharing (clipped) whichever is alone.
func concat[T any](a, b []T) []T {
	switch {
	case len(b) == 0:
		return slices.Clip(a)
	case len(a) == 0:
		return slices.Clip(b)
	}
	return append(slices.Clone(a), b...)
}

func hasUlimit(us []Ulimit, name string) bool {
	for _, u := range us {
		if u.Name == name {
			return true
		}
	}
	return false
}
