package quota

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendkit/tend/units"
)

// Engine is the part of a container engine that Audit uses: the running
// containers with the limits they run under. The Docker implementation is
// package quota/dockerengine, the only part of quota that imports the
// Docker client.
type Engine interface {
	// Running lists the running containers.
	Running(ctx context.Context) ([]Container, error)
}

// Container is a running container as Audit sees it. Zero means unlimited
// (or, for the GPU fields, none).
type Container struct {
	ID    string `json:"id"`
	Name  string `json:"name"` // without docker's leading "/"
	Image string `json:"image"`
	// Memory is the hard limit; MemorySwap docker's memory plus swap (-1
	// unlimited, 0 not set: docker then allows as much swap as memory).
	Memory     units.Size `json:"memory,omitempty"`
	MemorySwap units.Size `json:"memory_swap,omitempty"`
	// CPUs is NanoCPUs, or the CFS quota over its period.
	CPUs      NanoCPUs   `json:"cpus,omitempty"`
	Cpuset    string     `json:"cpuset,omitempty"`
	PidsLimit int64      `json:"pids_limit,omitempty"` // 0 or -1: unlimited
	ShmSize   units.Size `json:"shm_size,omitempty"`
	IPC       string     `json:"ipc,omitempty"`
	// GPUs are the device ids or UUIDs the container was given (docker's
	// DeviceRequests, or NVIDIA_VISIBLE_DEVICES where the engine says it
	// is in force); AllGPUs is set for "all" (count -1).
	GPUs    []string `json:"gpus,omitempty"`
	AllGPUs bool     `json:"all_gpus,omitempty"`
	// LogDriver and LogOptions are the container's log configuration.
	LogDriver  string            `json:"log_driver,omitempty"`
	LogOptions map[string]string `json:"log_options,omitempty"`
}

// UsesGPUs reports whether the container was given any GPU.
func (c Container) UsesGPUs() bool { return c.AllGPUs || len(c.GPUs) > 0 }

// DriftKind says what kind of drift a Drift is.
type DriftKind string

// The kinds of drift Audit reports.
const (
	DriftKindMemory     DriftKind = "memory"      // no memory limit or a looser one
	DriftKindSwap       DriftKind = "swap"        // unlimited swap, or more than the spec allows
	DriftKindCPUs       DriftKind = "cpus"        // no CPU limit or a looser one
	DriftKindPids       DriftKind = "pids"        // no pids limit or a looser one
	DriftKindShm        DriftKind = "shm"         // /dev/shm smaller than the spec's (docker's 64 MiB)
	DriftKindLogs       DriftKind = "logs"        // the container's log is not capped
	DriftKindGPU        DriftKind = "gpu"         // other GPUs than the spec gives the user
	DriftKindGPUShared  DriftKind = "gpu-shared"  // two containers on one GPU
	DriftKindUnknownGPU DriftKind = "unknown-gpu" // a GPU container the spec does not know
)

// Drift is one difference between a running container and the spec.
type Drift struct {
	Kind      DriftKind `json:"kind"`
	Container string    `json:"container"`
	// User is the spec's user the container belongs to ("" for one the
	// spec does not know).
	User    string `json:"user,omitempty"`
	Want    string `json:"want,omitempty"`
	Got     string `json:"got,omitempty"`
	Message string `json:"message"`
}

// String prints "container alice: memory: ...".
func (d Drift) String() string {
	return fmt.Sprintf("container %s: %s: %s", printable(d.Container), d.Kind, d.Message)
}

// AuditReport is what Audit found.
type AuditReport struct {
	// Checked is the number of running containers looked at.
	Checked int `json:"checked"`
	// Matched lists the users whose container runs as the spec says.
	Matched []string `json:"matched,omitempty"`
	// NotRunning lists the users with no running container (not drift).
	NotRunning []string `json:"not_running,omitempty"`
	// Drifts are sorted by container name, then kind.
	Drifts []Drift `json:"drifts,omitempty"`
}

// AuditOptions tune Audit.
type AuditOptions struct {
	// Timeout bounds the engine call when ctx has no deadline (0 = 30s).
	Timeout time.Duration
	// GPUs are the host's GPUs (Plan.Host.GPUs). With them, a GPU named by
	// its UUID (NVIDIA_VISIBLE_DEVICES=GPU-...) and by its index ("0") is
	// one GPU, in the spec and in the containers alike.
	GPUs []GPU
}

// Audit compares the running containers with users (allocated, as in a
// Plan) and reports drift: a container named after a user that runs with
// no memory, CPU or pids limit, or a looser one, with unlimited swap (or
// more than the spec's), with a /dev/shm smaller than the spec's (docker's
// 64 MiB default among them), with an uncapped log, or on other GPUs than
// the spec gives it; two containers on one GPU (a container with all GPUs
// shares each of them); a GPU container the spec does not know. Tighter
// limits than the spec are not drift. The engine call runs under ctx's
// deadline (opts.Timeout when it has none).
func Audit(ctx context.Context, e Engine, users []QuotaSpec, opts AuditOptions) (*AuditReport, error) {
	if _, ok := ctx.Deadline(); !ok {
		t := opts.Timeout
		if t <= 0 {
			t = 30 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	running, err := e.Running(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: list running containers: %w", err)
	}
	if len(opts.GPUs) > 0 {
		hx := indexHost(Host{GPUs: opts.GPUs})
		canon := func(ids []string) []string {
			out := make([]string, len(ids))
			for i, id := range ids {
				out[i] = hx.gpuKey(id)
			}
			return out
		}
		running = slices.Clone(running)
		for i := range running {
			running[i].GPUs = canon(running[i].GPUs)
		}
		users = slices.Clone(users)
		for i := range users {
			users[i].GPUs.IDs = canon(users[i].GPUs.IDs)
		}
	}
	return compare(running, users), nil
}

func compare(running []Container, users []QuotaSpec) *AuditReport {
	rep := &AuditReport{Checked: len(running)}
	byName := make(map[string]int, len(users))
	for i, q := range users {
		byName[q.Name] = i
	}
	seen := make(map[string]bool, len(users))
	for _, c := range running {
		i, ok := byName[c.Name]
		if !ok {
			if c.UsesGPUs() {
				rep.add(c, "", DriftKindUnknownGPU, "", gpuText(c), "uses GPUs (%s) but the spec has no user of that name", gpuText(c))
			}
			continue
		}
		seen[c.Name] = true
		before := len(rep.Drifts)
		compareOne(rep, c, &users[i])
		if len(rep.Drifts) == before {
			rep.Matched = append(rep.Matched, c.Name)
		}
	}
	compareGPUs(rep, running, byName)
	for _, q := range users {
		if !seen[q.Name] {
			rep.NotRunning = append(rep.NotRunning, q.Name)
		}
	}
	slices.SortStableFunc(rep.Drifts, func(a, b Drift) int {
		if c := strings.Compare(a.Container, b.Container); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
	rep.Matched = slices.DeleteFunc(rep.Matched, func(n string) bool {
		return slices.ContainsFunc(rep.Drifts, func(d Drift) bool { return d.Container == n })
	})
	return rep
}

func (r *AuditReport) add(c Container, user string, k DriftKind, want, got, format string, args ...any) {
	r.Drifts = append(r.Drifts, Drift{Kind: k, Container: c.Name, User: user, Want: want, Got: got, Message: fmt.Sprintf(format, args...)})
}

func sizeText(s units.Size) string {
	if s <= 0 {
		return "unlimited"
	}
	return s.String()
}

func compareOne(r *AuditReport, c Container, q *QuotaSpec) {
	u := q.Name
	if q.Memory > 0 && (c.Memory <= 0 || c.Memory > q.Memory) {
		r.add(c, u, DriftKindMemory, q.Memory.String(), sizeText(c.Memory), "memory limit %s, the spec says %s", sizeText(c.Memory), q.Memory)
	}
	switch {
	case c.MemorySwap < 0 && q.MemorySwap >= 0:
		r.add(c, u, DriftKindSwap, sizeText(q.MemorySwap), "unlimited", "unlimited swap (memory_swap -1)")
	case q.MemorySwap > 0 && c.MemorySwap == 0 && c.Memory > 0 && 2*c.Memory > q.MemorySwap:
		r.add(c, u, DriftKindSwap, q.MemorySwap.String(), (2 * c.Memory).String(), "memory_swap not set, so docker allows %s of memory and swap; the spec says %s", 2*c.Memory, q.MemorySwap)
	case q.MemorySwap > 0 && c.MemorySwap > q.MemorySwap:
		r.add(c, u, DriftKindSwap, q.MemorySwap.String(), c.MemorySwap.String(), "memory and swap %s, the spec says %s", c.MemorySwap, q.MemorySwap)
	}
	if q.CPUs > 0 && (c.CPUs <= 0 || c.CPUs > q.CPUs) {
		got := "unlimited"
		if c.CPUs > 0 {
			got = c.CPUs.String()
		}
		r.add(c, u, DriftKindCPUs, q.CPUs.String(), got, "CPU limit %s, the spec says %s", got, q.CPUs)
	}
	if q.PidsLimit > 0 && (c.PidsLimit <= 0 || c.PidsLimit > q.PidsLimit) {
		got := "unlimited"
		if c.PidsLimit > 0 {
			got = fmt.Sprint(c.PidsLimit)
		}
		r.add(c, u, DriftKindPids, fmt.Sprint(q.PidsLimit), got, "pids limit %s, the spec says %d", got, q.PidsLimit)
	}
	if q.IPC != "host" && c.IPC != "host" {
		want := q.ShmSize
		if want == 0 {
			want = DockerShmDefault
		}
		if c.ShmSize > 0 && c.ShmSize < want {
			msg := "/dev/shm is %s, the spec says %s"
			if c.ShmSize == DockerShmDefault {
				msg = "/dev/shm is docker's default %s (PyTorch DataLoader workers die with \"Bus error\"), the spec says %s"
			}
			r.add(c, u, DriftKindShm, want.String(), c.ShmSize.String(), msg, c.ShmSize, want)
		}
	}
	if want := q.Logging.Effective(); q.Logging.Capped() && want.Driver != LogDriverNone {
		wantTotal := want.MaxSize * units.Size(want.MaxFile)
		switch got, ok := logBound(c); {
		case !ok:
			r.add(c, u, DriftKindLogs, q.Logging.String(), c.LogDriver+" unlimited", "log driver %s without max-size: the log can fill the host's disk (the spec says %s)", c.LogDriver, q.Logging)
		case got > wantTotal:
			r.add(c, u, DriftKindLogs, q.Logging.String(), got.String(), "the log may grow to %s (max-size %s, max-file %s), the spec says %s", got, c.LogOptions["max-size"], orNone(nonEmpty(c.LogOptions["max-file"])), q.Logging)
		}
	}
	if want := slices.Sorted(slices.Values(q.GPUs.IDs)); !q.GPUs.All && (c.AllGPUs || !slices.Equal(want, slices.Sorted(slices.Values(c.GPUs)))) {
		r.add(c, u, DriftKindGPU, orNone(want), gpuText(c), "runs with GPUs %s, the spec gives %s", gpuText(c), orNone(want))
	}
}

// logBound returns how large the container's log may grow on this host
// (max-size times max-file); ok is false when it is not bounded. Drivers
// that do not write the log on the host's disk count as bounded by 0.
func logBound(c Container) (bound units.Size, ok bool) {
	files := units.Size(1)
	switch c.LogDriver {
	case "json-file", "":
	case "local":
		files = 5 // docker's local driver: 20m x 5 unless told otherwise
		if c.LogOptions["max-size"] == "" {
			return 100 * units.MiB, true
		}
	case "none", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries":
		return 0, true
	default:
		return 0, false
	}
	size, err := units.ParseSize(c.LogOptions["max-size"])
	if err != nil || size <= 0 {
		return 0, false
	}
	if n, err := strconv.Atoi(c.LogOptions["max-file"]); err == nil && n > 0 {
		files = units.Size(n)
	}
	return size * files, true
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func gpuText(c Container) string {
	if c.AllGPUs {
		return "all"
	}
	return orNone(c.GPUs)
}

// compareGPUs reports each GPU used by more than one running container.
func compareGPUs(r *AuditReport, running []Container, byName map[string]int) {
	var all []Container
	holders := map[string][]string{}
	var ids []string
	for _, c := range running {
		if c.AllGPUs {
			all = append(all, c)
			continue
		}
		for _, id := range c.GPUs {
			if len(holders[id]) == 0 {
				ids = append(ids, id)
			}
			holders[id] = append(holders[id], c.Name)
		}
	}
	user := func(name string) string {
		if _, ok := byName[name]; ok {
			return name
		}
		return ""
	}
	for _, id := range ids {
		if h := holders[id]; len(h) > 1 {
			slices.Sort(h)
			for _, name := range h {
				r.Drifts = append(r.Drifts, Drift{Kind: DriftKindGPUShared, Container: name, User: user(name), Got: strings.Join(h, ", "),
					Message: fmt.Sprintf("GPU %s is shared by %s", id, strings.Join(h, ", "))})
			}
		}
	}
	for _, c := range all {
		var others []string
		for _, o := range running {
			if o.Name != c.Name && o.UsesGPUs() {
				others = append(others, o.Name)
			}
		}
		slices.Sort(others)
		if len(others) > 0 {
			r.Drifts = append(r.Drifts, Drift{Kind: DriftKindGPUShared, Container: c.Name, User: user(c.Name), Got: "all",
				Message: fmt.Sprintf("has all GPUs, which %s also use", strings.Join(others, ", "))})
			for _, o := range others {
				r.Drifts = append(r.Drifts, Drift{Kind: DriftKindGPUShared, Container: o, User: user(o),
					Message: fmt.Sprintf("its GPUs are shared with %s, which has all GPUs", c.Name)})
			}
		}
	}
}
