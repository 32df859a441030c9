package quota

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/go-multierror"
	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/internal/yamlerr"
	"github.com/tendkit/tend/units"
)

// Spec is a parsed spec file (see docs/DESIGN.md, "Quota spec file"): the host
// (nil: read it from the machine), the memory headroom, defaults applied to
// every user, and the users (or a single container).
type Spec struct {
	Host *Host `json:"host,omitempty"`
	// Headroom is the share of host memory that users' limits may sum to
	// (0 = DefaultHeadroom).
	Headroom units.Percent `json:"headroom,omitempty"`
	// PortRange is where Allocate picks host ports for `port: auto`
	// (zero = DefaultPortRange).
	PortRange PortRange   `json:"port_range,omitzero"`
	Defaults  QuotaSpec   `json:"defaults,omitzero"`
	Users     []QuotaSpec `json:"users"`
	// Single is set when the file had one `container:` rather than `users:`.
	Single bool `json:"single,omitempty"`
	// File is the name the spec was parsed under, for problems.
	File string `json:"file,omitempty"`

	lines map[string]int // field path -> line of its key
}

// PortRange is an inclusive range of host ports.
type PortRange struct {
	First int `json:"first"`
	Last  int `json:"last"`
}

// DefaultPortRange is where `port: auto` ports come from by default.
var DefaultPortRange = PortRange{First: 8888, Last: 8999}

// DefaultHeadroom is the default share of host memory users may sum to.
const DefaultHeadroom units.Percent = 90

type rawFile struct {
	Host      *rawHost  `yaml:"host"`
	Headroom  string    `yaml:"headroom"`
	PortRange string    `yaml:"port_range"`
	Defaults  *rawSpec  `yaml:"defaults"`
	Users     []rawSpec `yaml:"users"`
	Container *rawSpec  `yaml:"container"`
}

type rawHost struct {
	Memory string   `yaml:"memory"`
	CPUs   string   `yaml:"cpus"`
	GPUs   []string `yaml:"gpus"`
}

type rawSpec struct {
	Name              string            `yaml:"name"`
	Image             string            `yaml:"image"`
	User              string            `yaml:"user"`
	Memory            string            `yaml:"memory"`
	MemoryReservation string            `yaml:"memory_reservation"`
	MemorySwap        string            `yaml:"memory_swap"`
	CPUs              string            `yaml:"cpus"`
	Cpuset            string            `yaml:"cpuset"`
	GPUs              yaml.Node         `yaml:"gpus"`
	ShmSize           string            `yaml:"shm_size"`
	IPC               string            `yaml:"ipc"`
	PidsLimit         string            `yaml:"pids_limit"`
	Ulimits           yaml.Node         `yaml:"ulimits"`
	Port              string            `yaml:"port"`
	Ports             []string          `yaml:"ports"`
	Workspace         string            `yaml:"workspace"`
	Volumes           []string          `yaml:"volumes"`
	Env               map[string]string `yaml:"env"`
}

// LoadSpec reads and parses the spec file at path.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Problem{File: path, Err: fmt.Errorf("read spec: %w", err)}
	}
	return ParseSpec(path, data)
}

// ParseSpec parses a spec file named name. It is strict: unknown keys,
// sizes that do not parse ("6G" is 6 GiB as for docker; "1e19", "-1g" and
// "0.3k" are errors), a file with both `users:` and `container:`, and
// values of the wrong kind are problems naming the file, the line, the user
// and the field, all returned at once as a *multierror.Error of *Problem.
func ParseSpec(name string, data []byte) (*Spec, error) {
	p := &specParser{spec: &Spec{File: name, lines: map[string]int{}}}
	var doc yaml.Node
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Problem{File: name, Err: errors.New("spec is empty: it needs `users:` or `container:`")}
	}
	if err := yaml.Load(data, &doc); err != nil {
		return nil, &Problem{File: name, Line: yamlerr.Line(err), Err: yamlerr.Message(err, typeNames...)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Problem{File: name, Line: root.Line, Err: errors.New("expected a mapping with `users:` or `container:`")}
	}
	p.index(root, "")
	var raw rawFile
	if err := root.Load(&raw, yaml.WithKnownFields()); err != nil {
		var le *yaml.LoadErrors
		if !errors.As(err, &le) {
			return nil, &Problem{File: name, Err: yamlerr.Message(err, typeNames...)}
		}
		for _, e := range le.Errors {
			p.at(e.Mark.Line, errors.New(yamlerr.Clean(e.Message, typeNames...)))
		}
		return nil, p.errs.ErrorOrNil()
	}
	p.convert(&raw)
	if err := p.errs.ErrorOrNil(); err != nil {
		return nil, err
	}
	return p.spec, nil
}

type specParser struct {
	spec *Spec
	errs *multierror.Error
	keys []fieldLine
}

type fieldLine struct {
	path       string
	key, value int
}

func (p *specParser) index(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := k.Value
			if path != "" {
				sub = path + "." + k.Value
			}
			p.keys = append(p.keys, fieldLine{sub, k.Line, v.Line})
			p.spec.lines[sub] = k.Line
			p.index(v, sub)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			sub := fmt.Sprintf("%s[%d]", path, i)
			p.keys = append(p.keys, fieldLine{sub, v.Line, v.Line})
			p.spec.lines[sub] = v.Line
			p.index(v, sub)
		}
	}
}

// at records a decoder error at line, naming the deepest field there.
func (p *specParser) at(line int, err error) {
	best := ""
	for _, f := range p.keys {
		if (f.key == line || f.value == line) && len(f.path) > len(best) {
			best = f.path
		}
	}
	p.errs = multierror.Append(p.errs, p.spec.locate(&Problem{Field: best, Err: err}))
}

// fail records a problem with the value at path.
func (p *specParser) fail(user, path string, err error) {
	p.errs = multierror.Append(p.errs, p.spec.locate(&Problem{User: user, Field: path, Err: err}))
}

// locate fills in the file and line of a problem from its field path,
// falling back to the nearest enclosing field that has a line.
func (s *Spec) locate(pr *Problem) *Problem {
	if s == nil {
		return pr
	}
	pr.File = s.File
	for path := pr.Field; path != ""; {
		if l, ok := s.lines[path]; ok {
			pr.Line = l
			break
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return pr
}

func (p *specParser) convert(raw *rawFile) {
	s := p.spec
	if raw.Host != nil {
		s.Host = p.host(raw.Host)
	}
	if raw.Headroom != "" {
		v, err := units.ParsePercent(raw.Headroom)
		if err == nil && v == 0 {
			err = fmt.Errorf("percentage %q: must be above 0", raw.Headroom)
		}
		if err != nil {
			p.fail("", "headroom", err)
		}
		s.Headroom = v
	}
	if raw.PortRange != "" {
		lo, hi, _ := strings.Cut(raw.PortRange, "-")
		a, err1 := parsePort(strings.TrimSpace(lo))
		b, err2 := parsePort(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || b < a {
			p.fail("", "port_range", fmt.Errorf("port range %q: use FIRST-LAST, e.g. 10000-10999", raw.PortRange))
		}
		s.PortRange = PortRange{a, b}
	}
	if raw.Defaults != nil {
		s.Defaults = p.quota("defaults", "", raw.Defaults)
		if raw.Defaults.Name != "" {
			p.fail("", "defaults.name", errors.New("defaults cannot set a name"))
		}
	}
	switch {
	case raw.Container != nil && len(raw.Users) > 0:
		p.fail("", "container", errors.New("a spec has either `users:` or `container:`, not both"))
	case raw.Container != nil:
		s.Single = true
		q := p.quota("container", raw.Container.Name, raw.Container)
		s.Users = []QuotaSpec{q}
	case len(raw.Users) == 0:
		p.fail("", "users", errors.New("no users: give `users:` (a list) or `container:`"))
	}
	for i := range raw.Users {
		path := fmt.Sprintf("users[%d]", i)
		if raw.Users[i].Name == "" {
			p.fail("", path+".name", errors.New("every user needs a name"))
		}
		s.Users = append(s.Users, p.quota(path, raw.Users[i].Name, &raw.Users[i]))
	}
}

func (p *specParser) host(r *rawHost) *Host {
	h := &Host{}
	if r.Memory == "" {
		p.fail("", "host.memory", errors.New("missing: the host's memory, e.g. 256GiB"))
	} else if v, err := units.ParseSize(r.Memory); err != nil {
		p.fail("", "host.memory", err)
	} else {
		h.Memory = v
	}
	n, err := strconv.Atoi(r.CPUs)
	if err != nil || n < 1 {
		p.fail("", "host.cpus", fmt.Errorf("%q is not a number of CPUs (a whole number, at least 1)", r.CPUs))
	}
	for i := range n {
		h.CPUs = append(h.CPUs, i)
	}
	for _, id := range r.GPUs {
		g := GPU{ID: id}
		if strings.HasPrefix(id, "GPU-") || strings.HasPrefix(id, "MIG-") {
			g.UUID = id
		}
		h.GPUs = append(h.GPUs, g)
	}
	return h
}

// quota converts one user's (or the defaults', or the container's) fields.
func (p *specParser) quota(path, user string, r *rawSpec) QuotaSpec {
	q := QuotaSpec{Name: r.Name, Image: r.Image, User: r.User, Cpuset: r.Cpuset, IPC: r.IPC, Workspace: r.Workspace, Env: r.Env}
	size := func(field, text string, allowUnlimited bool) units.Size {
		if text == "" {
			return 0
		}
		if allowUnlimited && strings.TrimSpace(text) == "-1" {
			return -1
		}
		v, err := units.ParseSize(text)
		if err != nil {
			p.fail(user, path+"."+field, err)
		}
		return v
	}
	q.Memory = size("memory", r.Memory, false)
	q.MemoryReservation = size("memory_reservation", r.MemoryReservation, false)
	q.MemorySwap = size("memory_swap", r.MemorySwap, true)
	q.ShmSize = size("shm_size", r.ShmSize, false)
	if r.CPUs != "" {
		v, err := ParseCPUs(r.CPUs)
		if err != nil {
			p.fail(user, path+".cpus", err)
		}
		q.CPUs = v
	}
	if r.PidsLimit != "" {
		v, err := strconv.ParseInt(r.PidsLimit, 10, 64)
		if err != nil || v < -1 {
			p.fail(user, path+".pids_limit", fmt.Errorf("%q is not a number of processes (-1 = unlimited)", r.PidsLimit))
		}
		q.PidsLimit = v
	}
	q.GPUs = p.gpus(path+".gpus", user, &r.GPUs)
	q.Ulimits = p.ulimits(path+".ulimits", user, &r.Ulimits)
	switch r.Port {
	case "":
	case "auto":
		q.Port = PortAuto
	default:
		v, err := parsePort(r.Port)
		if err != nil {
			p.fail(user, path+".port", fmt.Errorf("%w (or auto)", err))
		}
		q.Port = v
	}
	for i, s := range r.Ports {
		m, err := ParsePortMapping(s)
		if err != nil {
			p.fail(user, fmt.Sprintf("%s.ports[%d]", path, i), err)
			continue
		}
		q.Ports = append(q.Ports, m)
	}
	for i, s := range r.Volumes {
		v, err := ParseVolume(s)
		if err != nil {
			p.fail(user, fmt.Sprintf("%s.volumes[%d]", path, i), err)
			continue
		}
		q.Volumes = append(q.Volumes, v)
	}
	return q
}

// typeNames turns the decoder's Go type names into words a user knows.
var typeNames = []string{"in type quota.rawSpec", "in a user's settings", "in type quota.rawFile", "in the spec file", "in type quota.rawHost", "in host"}
