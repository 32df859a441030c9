package quota

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/internal/yamlerr"
	"github.com/tendkit/tend/units"
)

// field is a top-level setting of a user (or of defaults, or a container).
type field uint8

// The settings of a user, in the order their keys are listed in messages.
const (
	fieldName field = iota
	fieldImage
	fieldUser
	fieldMemory
	fieldMemoryReservation
	fieldMemorySwap
	fieldCPUs
	fieldCpuset
	fieldGPUs
	fieldShmSize
	fieldIPC
	fieldPidsLimit
	fieldUlimits
	fieldPort
	fieldPorts
	fieldWorkspace
	fieldVolumes
	fieldEnv
	fieldLogging
	fieldSecrets
	numFields
)

var fieldNames = [numFields]string{
	"name", "image", "user", "memory", "memory_reservation", "memory_swap", "cpus", "cpuset", "gpus",
	"shm_size", "ipc", "pids_limit", "ulimits", "port", "ports", "workspace", "volumes", "env", "logging", "secrets",
}

var fieldByName = func() map[string]field {
	m := make(map[string]field, numFields)
	for i, n := range fieldNames {
		m[n] = field(i)
	}
	return m
}()

// fieldOf returns the setting a problem's field path ("ulimits.stack",
// "memory") belongs to.
func fieldOf(path string) (field, bool) {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		path = path[:i]
	}
	f, ok := fieldByName[path]
	return f, ok
}

// fieldSet is a set of fields.
type fieldSet uint32

func (s fieldSet) has(f field) bool { return s&(1<<f) != 0 }

// userLines are where a user's settings are in the file, and which of
// them did not parse (so that later stages do not report them again).
type userLines struct {
	item   int32
	field  [numFields]int32
	failed fieldSet
}

// maxVisits bounds the values one decoder walks, aliases included: a
// spec whose aliases expand to more fails instead of running for hours.
// (A chunk of the users list is far below it; so is a whole spec of up to
// wholeParseMax bytes without aliases.)
const maxVisits = 1 << 20

// maxProblems bounds the problems one decoder records; then it records one
// saying so and stops.
const maxProblems = 1 << 17

// decoder turns YAML nodes into spec values, collecting problems with
// their lines. off is added to every node's line (a chunk of the users
// list parsed on its own starts at line 1).
type decoder struct {
	file   string
	off    int
	visits int
	probs  []*Problem
	over   bool
}

func (d *decoder) line(n *yaml.Node) int { return n.Line + d.off }

// fail records a problem at node n; index is 1 + the user's index, or 0.
func (d *decoder) fail(n *yaml.Node, index int, user, path string, err error) {
	switch {
	case len(d.probs) < maxProblems:
		d.probs = append(d.probs, &Problem{File: d.file, Line: d.line(n), User: user, Field: path, Err: err, index: index})
	case len(d.probs) == maxProblems:
		d.probs = append(d.probs, &Problem{File: d.file, Line: d.line(n), Err: fmt.Errorf("more than %d problems here; stopped listing them: %w", maxProblems, ErrTooLarge)})
	}
}

// count charges n's children to the visit budget; false when it is spent.
func (d *decoder) count(n *yaml.Node) bool {
	d.visits += len(n.Content)
	if d.visits > maxVisits {
		if !d.over {
			d.over = true
			d.fail(n, 0, "", "", fmt.Errorf("the spec holds more than %d values, aliases expanded: %w", maxVisits, ErrTooLarge))
		}
		return false
	}
	return true
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	return n
}

// kindName says what a node is, for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a value"
}

// pairs calls visit for each key and value of mapping n, applying merge
// keys (`<<: *base`): keys of the mapping itself win over merged ones.
func (d *decoder) pairs(n *yaml.Node, visit func(k, v *yaml.Node)) {
	if !d.count(n) {
		return
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			merged = append(merged, v)
			continue
		}
		visit(k, v)
	}
	if len(merged) == 0 {
		return
	}
	own := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		own[n.Content[i].Value] = true
	}
	var sources []*yaml.Node
	for _, m := range merged {
		m = deref(m)
		if m != nil && m.Kind == yaml.SequenceNode {
			if !d.count(m) {
				return
			}
			for _, c := range m.Content {
				sources = append(sources, deref(c))
			}
		} else {
			sources = append(sources, m)
		}
	}
	for _, m := range sources {
		if m == nil || m.Kind != yaml.MappingNode || !d.count(m) {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i]; !own[k.Value] {
				own[k.Value] = true
				visit(k, m.Content[i+1])
			}
		}
	}
}

// dupKeys reports each key that mapping n sets twice (merge keys aside),
// for the mappings whose decoders do not check that themselves.
func (d *decoder) dupKeys(n *yaml.Node, pi int, user, path string) {
	if len(n.Content) < 4 {
		return
	}
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || (k.Value == "<<" && k.Tag == "!!merge") {
			continue
		}
		if line, dup := first[k.Value]; dup {
			d.fail(k, pi, user, path+"."+truncate(k.Value, 64), fmt.Errorf("%s is set twice (first on line %d)", truncate(k.Value, 64), line))
			continue
		}
		first[k.Value] = d.line(k)
	}
}

// text returns a scalar's text ("" for null); ok is false, with a
// problem recorded, for a list or mapping.
func (d *decoder) text(v *yaml.Node, index int, user, path string) (string, bool) {
	v = deref(v)
	if v == nil {
		return "", true
	}
	if v.Kind != yaml.ScalarNode {
		d.fail(v, index, user, path, fmt.Errorf("expected a single value, not %s", kindName(v)))
		return "", false
	}
	if v.Tag == "!!null" {
		return "", true
	}
	return v.Value, true
}

// number is text for a value parsed as a number: bounded in length.
func (d *decoder) number(v *yaml.Node, index int, user, path string) (string, bool) {
	s, ok := d.text(v, index, user, path)
	if ok && len(s) > maxNumberText {
		d.fail(v, index, user, path, fmt.Errorf("%.20q...: %d characters is too long for a number", s, len(s)))
		return "", false
	}
	return s, ok
}

// unknownKey reports a key the spec does not have, suggesting a close one.
func (d *decoder) unknownKey(k *yaml.Node, index int, user, path, where string, known []string) {
	msg := fmt.Sprintf("unknown key %q in %s", truncate(k.Value, 64), where)
	if s := yamlerr.Nearest(k.Value, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	d.fail(k, index, user, path, errors.New(msg))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// userPath names a user's section in field paths.
func userPath(index int, single bool) string {
	switch {
	case index < 0:
		return "defaults"
	case single:
		return "container"
	}
	return "users[" + strconv.Itoa(index) + "]"
}

// user decodes one user's (or the defaults', or the container's)
// settings; index is the user's position (-1 for defaults).
func (d *decoder) user(n *yaml.Node, index int, single bool) (QuotaSpec, userLines) {
	var q QuotaSpec
	var ln userLines
	n = deref(n)
	ln.item = int32(d.line(n))
	base := userPath(index, single)
	pi := index + 1
	if index < 0 {
		pi = 0
	}
	if n.Kind != yaml.MappingNode {
		what := kindName(n)
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			what = "nothing"
		}
		if index >= 0 || what != "nothing" { // empty defaults are fine
			d.fail(n, pi, "", base, fmt.Errorf("expected a mapping of settings (name: ..., image: ..., memory: ...), not %s", what))
		}
		ln.failed = ^fieldSet(0)
		return q, ln
	}
	// The name first, so that every problem of this user can carry it.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			var ok bool
			if q.Name, ok = d.text(n.Content[i+1], pi, "", base+".name"); !ok {
				ln.failed |= 1 << fieldName
			}
		}
	}
	var seen fieldSet
	d.pairs(n, func(k, v *yaml.Node) {
		f, ok := fieldByName[k.Value]
		if !ok {
			d.unknownKey(k, pi, q.Name, base+"."+truncate(k.Value, 64), "a user's settings", fieldNames[:])
			return
		}
		path := base + "." + k.Value
		if seen.has(f) {
			d.fail(k, pi, q.Name, path, fmt.Errorf("%s is set twice (first on line %d)", k.Value, ln.field[f]))
			ln.failed |= 1 << f
			return
		}
		seen |= 1 << f
		ln.field[f] = int32(d.line(k))
		before := len(d.probs)
		d.setting(&q, f, v, pi, path)
		if len(d.probs) > before {
			ln.failed |= 1 << f
		}
	})
	if index < 0 && q.Name != "" {
		d.fail(n, 0, "", "defaults.name", errors.New("defaults cannot set a name"))
	}
	return q, ln
}

// setting decodes one setting into q.
func (d *decoder) setting(q *QuotaSpec, f field, v *yaml.Node, pi int, path string) {
	u := q.Name
	str := func() string { s, _ := d.text(v, pi, u, path); return s }
	size := func(allowUnlimited bool) units.Size {
		s, ok := d.number(v, pi, u, path)
		if !ok || s == "" {
			return 0
		}
		if allowUnlimited && strings.TrimSpace(s) == "-1" {
			return -1
		}
		sz, err := units.ParseSize(s)
		if err != nil {
			d.fail(v, pi, u, path, err)
		}
		return sz
	}
	switch f {
	case fieldName:
		// read first, in user
	case fieldImage:
		q.Image = str()
	case fieldUser:
		q.User = str()
	case fieldMemory:
		q.Memory = size(false)
	case fieldMemoryReservation:
		q.MemoryReservation = size(false)
	case fieldMemorySwap:
		q.MemorySwap = size(true)
	case fieldShmSize:
		q.ShmSize = size(false)
	case fieldCPUs:
		if s, ok := d.number(v, pi, u, path); ok && s != "" {
			c, err := ParseCPUs(s)
			if err != nil {
				d.fail(v, pi, u, path, err)
			}
			q.CPUs = c
		}
	case fieldCpuset:
		q.Cpuset = str()
	case fieldGPUs:
		q.GPUs = d.gpus(v, pi, u, path)
	case fieldIPC:
		q.IPC = str()
	case fieldPidsLimit:
		if s, ok := d.number(v, pi, u, path); ok && s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < -1 {
				d.fail(v, pi, u, path, fmt.Errorf("%q is not a number of processes (-1 = unlimited)", s))
			}
			q.PidsLimit = n
		}
	case fieldUlimits:
		q.Ulimits = d.ulimits(v, pi, u, path)
	case fieldPort:
		switch s, _ := d.number(v, pi, u, path); s {
		case "":
		case "auto":
			q.Port = PortAuto
		default:
			p, err := parsePort(s)
			if err != nil {
				d.fail(v, pi, u, path, fmt.Errorf("%w (or auto)", err))
			}
			q.Port = p
		}
	case fieldPorts:
		d.list(v, pi, u, path, func(c *yaml.Node, p string) {
			if s, ok := d.text(c, pi, u, p); ok {
				m, err := ParsePortMapping(s)
				if err != nil {
					d.fail(c, pi, u, p, err)
					return
				}
				q.Ports = append(q.Ports, m)
			}
		})
	case fieldWorkspace:
		q.Workspace = str()
		if w := q.Workspace; w != "" && (!strings.HasPrefix(w, "/") || strings.ContainsAny(w, ":\n\x00")) {
			d.fail(v, pi, u, path, fmt.Errorf("%.80q: give the absolute path of a directory on the host, without ':' (docker reads a relative one as a volume name)", w))
		}
	case fieldVolumes:
		d.list(v, pi, u, path, func(c *yaml.Node, p string) {
			if s, ok := d.text(c, pi, u, p); ok {
				vol, err := ParseVolume(s)
				if err != nil {
					d.fail(c, pi, u, p, err)
					return
				}
				q.Volumes = append(q.Volumes, vol)
			}
		})
	case fieldEnv:
		q.Env = d.env(v, pi, u, path)
	case fieldLogging:
		q.Logging = d.logging(v, pi, u, path)
	case fieldSecrets:
		d.list(v, pi, u, path, func(c *yaml.Node, p string) {
			if s, ok := d.text(c, pi, u, p); ok {
				q.Secrets = append(q.Secrets, Secret{Name: s})
			}
		})
	}
}

// list calls each for every entry of a list at v.
func (d *decoder) list(v *yaml.Node, pi int, user, path string, each func(c *yaml.Node, path string)) {
	v = deref(v)
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return
	}
	if v.Kind != yaml.SequenceNode {
		d.fail(v, pi, user, path, fmt.Errorf("expected a list, not %s", kindName(v)))
		return
	}
	if !d.count(v) {
		return
	}
	for i, c := range v.Content {
		each(c, path+"["+strconv.Itoa(i)+"]")
	}
}

func (d *decoder) gpus(v *yaml.Node, pi int, user, path string) GPUs {
	var g GPUs
	v = deref(v)
	switch {
	case v == nil:
	case v.Kind == yaml.ScalarNode:
		s, _ := d.number(v, pi, user, path)
		if s == "" || s == "all" {
			g.All = s == "all"
			break
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxGPUs {
			d.fail(v, pi, user, path, fmt.Errorf("%q: give a count, all, or a list of ids or UUIDs such as [\"0\", \"2\"]", s))
			break
		}
		g.Count, g.None = n, n == 0
	case v.Kind == yaml.SequenceNode:
		g.None = len(v.Content) == 0
		d.list(v, pi, user, path, func(c *yaml.Node, p string) {
			if s, ok := d.text(c, pi, user, p); ok {
				if s == "" || strings.ContainsAny(s, ", \t\n\"'") {
					d.fail(c, pi, user, p, fmt.Errorf("%q is not a GPU id or UUID", s))
					return
				}
				g.IDs = append(g.IDs, s)
			}
		})
	default:
		d.fail(v, pi, user, path, errors.New("give a count, all, or a list of ids or UUIDs"))
	}
	return g
}

// ulimits reads `{memlock: -1, stack: 64MiB, nofile: {soft: 1024, hard: 4096}}`
// in file order; "1024:4096" is also accepted, as docker writes it.
func (d *decoder) ulimits(v *yaml.Node, pi int, user, path string) []Ulimit {
	v = deref(v)
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		d.fail(v, pi, user, path, errors.New("expected a mapping such as {memlock: -1, stack: 67108864}"))
		return nil
	}
	var us []Ulimit
	d.pairs(v, func(k, c *yaml.Node) {
		name := k.Value
		p := path + "." + truncate(name, 64)
		u := Ulimit{Name: name}
		var err error
		c = deref(c)
		switch c.Kind {
		case yaml.ScalarNode:
			s, ok := d.number(c, pi, user, p)
			if !ok {
				return
			}
			soft, hard, isPair := strings.Cut(s, ":")
			u.Soft, err = ulimitValue(soft)
			u.Hard = u.Soft
			if err == nil && isPair {
				u.Hard, err = ulimitValue(hard)
			}
		case yaml.MappingNode:
			d.dupKeys(c, pi, user, p)
			var soft, hard string
			d.pairs(c, func(k2, c2 *yaml.Node) {
				switch k2.Value {
				case "soft":
					soft, _ = d.number(c2, pi, user, p+".soft")
				case "hard":
					hard, _ = d.number(c2, pi, user, p+".hard")
				default:
					d.unknownKey(k2, pi, user, p+"."+truncate(k2.Value, 64), "a ulimit", []string{"soft", "hard"})
				}
			})
			if u.Soft, err = ulimitValue(soft); err == nil {
				u.Hard, err = ulimitValue(hard)
			}
		default:
			err = errors.New("expected a number, SOFT:HARD or {soft: N, hard: N}")
		}
		if err != nil {
			d.fail(c, pi, user, p, fmt.Errorf("ulimit %s: %w", truncate(name, 64), err))
			return
		}
		us = append(us, u)
	})
	return us
}

func ulimitValue(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "-1" || s == "unlimited" {
		return -1, nil
	}
	v, err := units.ParseSize(s)
	return int64(v), err
}

func (d *decoder) env(v *yaml.Node, pi int, user, path string) map[string]string {
	v = deref(v)
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		d.fail(v, pi, user, path, fmt.Errorf("expected a mapping of NAME: value, not %s", kindName(v)))
		return nil
	}
	env := make(map[string]string, len(v.Content)/2)
	d.pairs(v, func(k, c *yaml.Node) {
		p := path + "." + truncate(k.Value, 64)
		if _, dup := env[k.Value]; dup {
			d.fail(k, pi, user, p, fmt.Errorf("%q is set twice", truncate(k.Value, 64)))
			return
		}
		if s, ok := d.text(c, pi, user, p); ok {
			env[k.Value] = s
		}
	})
	return env
}

var loggingKeys = []string{"driver", "max_size", "max_file"}

func (d *decoder) logging(v *yaml.Node, pi int, user, path string) Logging {
	var l Logging
	v = deref(v)
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return l
	}
	if v.Kind != yaml.MappingNode {
		d.fail(v, pi, user, path, errors.New("expected a mapping such as {driver: json-file, max_size: 10MiB, max_file: 5}"))
		return l
	}
	d.dupKeys(v, pi, user, path)
	d.pairs(v, func(k, c *yaml.Node) {
		p := path + "." + truncate(k.Value, 64)
		switch k.Value {
		case "driver":
			s, _ := d.text(c, pi, user, p)
			l.Driver = LogDriver(s)
		case "max_size":
			s, ok := d.number(c, pi, user, p)
			switch {
			case !ok || s == "":
			case s == "unlimited" || s == "-1":
				l.MaxSize = LogUnlimited
			default:
				sz, err := units.ParseSize(s)
				if err == nil && sz == 0 {
					err = errors.New("0: say unlimited to turn the cap off")
				}
				if err != nil {
					d.fail(c, pi, user, p, err)
				}
				l.MaxSize = sz
			}
		case "max_file":
			if s, ok := d.number(c, pi, user, p); ok && s != "" {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 || n > maxLogFiles {
					d.fail(c, pi, user, p, fmt.Errorf("%q: give a number of files from 1 to %d", s, maxLogFiles))
				}
				l.MaxFile = n
			}
		default:
			d.unknownKey(k, pi, user, p, "logging", loggingKeys)
		}
	})
	return l
}
