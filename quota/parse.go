package quota

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/internal/yamlerr"
	"github.com/tendkit/tend/units"
)

// Spec is a parsed spec file (see docs/DESIGN.md, "Quota spec file"): the host
// (nil: read it from the machine), the memory headroom, defaults applied to
// every user, the secrets users may mount, and the users (or a single
// container).
type Spec struct {
	// Host is the host described by hand in the spec, or nil.
	Host *Host `json:"host,omitempty"`
	// Headroom is the share of host memory that users' limits may sum to
	// (0 = DefaultHeadroom).
	Headroom units.Percent `json:"headroom,omitempty"`
	// PortRange is where Allocate picks host ports for `port: auto`
	// (zero = DefaultPortRange).
	PortRange PortRange   `json:"port_range,omitzero"`
	Defaults  QuotaSpec   `json:"defaults,omitzero"`
	Users     []QuotaSpec `json:"users"`
	// Secrets are the files users may mount at /run/secrets/NAME, by name.
	Secrets []Secret `json:"secrets,omitempty"`
	// Single is set when the file had one `container:` rather than `users:`.
	Single bool `json:"single,omitempty"`
	// File is the name the spec was parsed under, for problems.
	File string `json:"file,omitempty"`

	top      map[string]int // line of each key outside the users ("host.cpus", "defaults.memory")
	users    []userLines    // per user: where its settings are
	defaults userLines
	parsed   []*Problem // what ParseSpec found wrong
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

var topKeys = []string{"host", "headroom", "port_range", "defaults", "users", "container", "secrets"}

// ParseSpec parses a spec file named name. It is strict and reports every
// problem at once, sorted by line, as a *multierror.Error of *Problem:
// unknown keys (with the closest known one), sizes that do not parse ("6G"
// is 6 GiB as for docker; "1e19", "-1g" and "0.3k" are errors), values of
// the wrong kind, a key set twice, a file with both `users:` and
// `container:`, and counts over MaxUsers, MaxCPUs and MaxGPUs (checked
// before anything is allocated for them).
//
// The spec comes back even when there are problems, holding what could be
// read, so that Spec.Plan can add the allocation and validation problems to
// the same list. It is nil when the file is not YAML or not a mapping, and
// when its aliases expand to more than the reader takes (ErrTooLarge):
// then what was read is not the spec, and the problems are those found
// before the reader stopped, without the flood of "missing" ones that the
// users it did not read would bring.
//
// The users list of a large spec is parsed in chunks on all CPUs, each
// chunk's YAML tree dropped once decoded, so memory follows the users kept,
// not the size of the tree.
func ParseSpec(name string, data []byte) (*Spec, error) {
	if len(data) > MaxSpecSize {
		return nil, &Problem{File: name, Err: fmt.Errorf("%d bytes, over the limit of %d (MaxSpecSize): %w", len(data), MaxSpecSize, ErrTooLarge)}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Problem{File: name, Err: errors.New("spec is empty: it needs `users:` or `container:`")}
	}
	s, err := parseChunked(name, data)
	if errors.Is(err, errNotChunkable) {
		s, err = parseWhole(name, data)
	}
	if err != nil {
		return nil, err
	}
	SortProblems(s.parsed)
	return s, asError(s.parsed)
}

// errNotChunkable: the users list is not a plain block list at the top
// level, or a chunk does not parse on its own; the whole file is parsed.
var errNotChunkable = errors.New("not chunkable")

// wholeParseMax is the largest file parsed as one YAML tree when chunks
// do not work (a tree takes about 30 times the file's size).
const wholeParseMax = 4 << 20

func syntaxProblem(name string, off int, err error) *Problem {
	line := yamlerr.Line(err)
	if line > 0 {
		line += off
	}
	return &Problem{File: name, Line: line, Err: yamlerr.Message(err)}
}

func parseWhole(name string, data []byte) (*Spec, error) {
	if len(data) > wholeParseMax {
		return nil, &Problem{File: name, Err: fmt.Errorf("the users list of a spec over %d bytes must be a plain block list under a top-level `users:` key, without aliases to other parts: %w", wholeParseMax, ErrTooLarge)}
	}
	var doc yaml.Node
	if err := yaml.Load(data, &doc); err != nil {
		return nil, syntaxProblem(name, 0, err)
	}
	d := &decoder{file: name}
	s, err := d.top(name, &doc, nil)
	if err != nil {
		return nil, err
	}
	if d.over {
		return nil, incomplete(d.probs)
	}
	s.parsed = append(s.parsed, d.probs...)
	return s, nil
}

// incomplete returns the problems of a spec the reader stopped reading
// (its visit budget spent), sorted.
func incomplete(ps []*Problem) error {
	SortProblems(ps)
	return asError(ps)
}

// top decodes the document's root mapping. With users set, the `users:`
// key must have no value here: its list was decoded in chunks.
func (d *decoder) top(name string, doc *yaml.Node, chunked *chunkedUsers) (*Spec, error) {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = deref(root)
	if root == nil || root.Kind != yaml.MappingNode {
		line := 0
		if root != nil {
			line = root.Line
		}
		return nil, &Problem{File: name, Line: line, Err: errors.New("expected a mapping with `users:` or `container:`")}
	}
	s := &Spec{File: name, top: map[string]int{}}
	var usersNode, containerNode *yaml.Node
	usersLine := 0
	seen := map[string]int{}
	d.pairs(root, func(k, v *yaml.Node) {
		key := k.Value
		if first, dup := seen[key]; dup {
			d.fail(k, 0, "", truncate(key, 64), fmt.Errorf("%s is set twice (first on line %d)", truncate(key, 64), first))
			return
		}
		seen[key] = d.line(k)
		s.top[key] = d.line(k)
		switch key {
		case "host":
			s.Host = d.host(v, s)
		case "headroom":
			if t, ok := d.number(v, 0, "", key); ok && t != "" {
				h, err := units.ParsePercent(t)
				if err == nil && h == 0 {
					err = fmt.Errorf("percentage %q: must be above 0", t)
				}
				if err != nil {
					d.fail(v, 0, "", key, err)
				}
				s.Headroom = h
			}
		case "port_range":
			if t, ok := d.number(v, 0, "", key); ok && t != "" {
				lo, hi, _ := strings.Cut(t, "-")
				a, err1 := parsePort(strings.TrimSpace(lo))
				b, err2 := parsePort(strings.TrimSpace(hi))
				if err1 != nil || err2 != nil || b < a {
					d.fail(v, 0, "", key, fmt.Errorf("port range %q: use FIRST-LAST, e.g. 10000-10999", t))
				}
				s.PortRange = PortRange{a, b}
			}
		case "defaults":
			s.Defaults, s.defaults = d.user(v, -1, false)
			for f := range numFields {
				if s.defaults.field[f] > 0 {
					s.top["defaults."+fieldNames[f]] = int(s.defaults.field[f])
				}
			}
		case "users":
			usersNode, usersLine = v, d.line(k)
		case "container":
			containerNode = v
		case "secrets":
			s.Secrets = d.secrets(v)
		default:
			d.unknownKey(k, 0, "", truncate(key, 64), "the spec file", topKeys)
		}
	})
	if chunked != nil {
		if v := deref(usersNode); v == nil || usersLine != chunked.keyLine || v.Kind != yaml.ScalarNode || v.Tag != "!!null" {
			return nil, errNotChunkable
		}
		s.Users, s.users = chunked.users, chunked.lines
		s.parsed = append(s.parsed, chunked.probs...)
	} else if usersNode != nil {
		d.usersList(s, usersNode)
	}
	switch {
	case containerNode != nil && len(s.Users) > 0:
		d.fail(containerNode, 0, "", "container", errors.New("a spec has either `users:` or `container:`, not both"))
	case containerNode != nil:
		s.Single = true
		q, ln := d.user(containerNode, 0, true)
		d.needName(containerNode, -1, &q, &ln)
		s.Users, s.users = []QuotaSpec{q}, []userLines{ln}
	case len(s.Users) == 0 && usersNode == nil:
		d.probs = append(d.probs, &Problem{File: name, Line: root.Line, Field: "users", Err: errors.New("no users: give `users:` (a list) or `container:`")})
	}
	return s, nil
}

func (d *decoder) usersList(s *Spec, v *yaml.Node) {
	v = deref(v)
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		d.fail(v, 0, "", "users", errors.New("no users: the list is empty"))
		return
	}
	if v.Kind != yaml.SequenceNode {
		d.fail(v, 0, "", "users", fmt.Errorf("expected a list of users, not %s", kindName(v)))
		return
	}
	if len(v.Content) == 0 {
		d.fail(v, 0, "", "users", errors.New("no users: the list is empty"))
		return
	}
	if len(v.Content) > MaxUsers {
		d.fail(v, 0, "", "users", fmt.Errorf("%d users, over the limit of %d (MaxUsers): %w", len(v.Content), MaxUsers, ErrTooLarge))
		return
	}
	if !d.count(v) {
		return
	}
	s.Users = make([]QuotaSpec, 0, len(v.Content))
	s.users = make([]userLines, 0, len(v.Content))
	for i, c := range v.Content {
		q, ln := d.user(c, i, false)
		d.needName(c, i, &q, &ln)
		s.Users = append(s.Users, q)
		s.users = append(s.users, ln)
	}
}

// needName reports a user without a name (i < 0: the container).
func (d *decoder) needName(n *yaml.Node, i int, q *QuotaSpec, ln *userLines) {
	if q.Name != "" || ln.failed.has(fieldName) {
		return
	}
	ln.failed |= 1 << fieldName
	if i < 0 {
		d.fail(n, 1, "", "container.name", errors.New("the container needs a name"))
		return
	}
	d.fail(n, i+1, "", userPath(i, false)+".name", errors.New("every user needs a name"))
}

var hostKeys = []string{"memory", "cpus", "gpus"}

func (d *decoder) host(v *yaml.Node, s *Spec) *Host {
	h := &Host{}
	v = deref(v)
	if v.Kind != yaml.MappingNode {
		d.fail(v, 0, "", "host", fmt.Errorf("expected a mapping such as {memory: 256GiB, cpus: 64, gpus: [\"0\", \"1\"]}, not %s", kindName(v)))
		return h
	}
	d.dupKeys(v, 0, "", "host")
	var memory, cpus bool
	d.pairs(v, func(k, c *yaml.Node) {
		path := "host." + truncate(k.Value, 64)
		s.top[path] = d.line(k)
		switch k.Value {
		case "memory":
			memory = true
			if t, ok := d.number(c, 0, "", path); ok {
				m, err := units.ParseSize(t)
				if err == nil && m <= 0 {
					err = fmt.Errorf("%q: the host needs some memory", t)
				}
				if err != nil {
					d.fail(c, 0, "", path, err)
				}
				h.Memory = m
			}
		case "cpus":
			cpus = true
			if t, ok := d.number(c, 0, "", path); ok {
				n, err := strconv.Atoi(t)
				switch {
				case err != nil || n < 1:
					d.fail(c, 0, "", path, fmt.Errorf("%q is not a number of CPUs (a whole number, at least 1)", t))
				case n > MaxCPUs:
					d.fail(c, 0, "", path, fmt.Errorf("%d CPUs, over the limit of %d (MaxCPUs): %w", n, MaxCPUs, ErrTooLarge))
				default:
					h.CPUs = make([]int, n)
					for i := range h.CPUs {
						h.CPUs[i] = i
					}
				}
			}
		case "gpus":
			c = deref(c)
			if c.Kind == yaml.SequenceNode && len(c.Content) > MaxGPUs {
				d.fail(c, 0, "", path, fmt.Errorf("%d GPUs, over the limit of %d (MaxGPUs): %w", len(c.Content), MaxGPUs, ErrTooLarge))
				return
			}
			seen := map[string]bool{}
			d.list(c, 0, "", path, func(e *yaml.Node, p string) {
				id, ok := d.text(e, 0, "", p)
				if !ok {
					return
				}
				if id == "" || strings.ContainsAny(id, ", \t\n\"'") {
					d.fail(e, 0, "", p, fmt.Errorf("%q is not a GPU id or UUID", id))
					return
				}
				if seen[id] {
					d.fail(e, 0, "", p, fmt.Errorf("GPU %q is listed twice", id))
					return
				}
				seen[id] = true
				g := GPU{ID: id}
				if strings.HasPrefix(id, "GPU-") || strings.HasPrefix(id, "MIG-") {
					g.UUID = id
				}
				h.GPUs = append(h.GPUs, g)
			})
		default:
			d.unknownKey(k, 0, "", path, "host", hostKeys)
		}
	})
	if !memory {
		d.fail(v, 0, "", "host.memory", errors.New("missing: the host's memory, e.g. 256GiB"))
	}
	if !cpus {
		d.fail(v, 0, "", "host.cpus", errors.New("missing: the host's number of CPUs, e.g. 64"))
	}
	return h
}

// secrets reads `secrets: {jupyter_token: {file: /etc/tend/jupyter_token}}`.
func (d *decoder) secrets(v *yaml.Node) []Secret {
	v = deref(v)
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		d.fail(v, 0, "", "secrets", errors.New("expected a mapping such as {jupyter_token: {file: /etc/tend/jupyter_token}}"))
		return nil
	}
	d.dupKeys(v, 0, "", "secrets")
	var out []Secret
	type named struct {
		name string
		line int
	}
	k8s := map[string]named{} // Kubernetes Secret name -> the first secret with it
	d.pairs(v, func(k, c *yaml.Node) {
		path := "secrets." + truncate(k.Value, 64)
		sec := Secret{Name: k.Value}
		if err := validSecretName(k.Value); err != nil {
			d.fail(k, 0, "", path, err)
		} else if first, ok := k8s[k8sSecretName(k.Value)]; ok && first.name != k.Value {
			d.fail(k, 0, "", path, fmt.Errorf("secrets %q and %q (line %d) would both be the Kubernetes Secret %q: rename one: %w", k.Value, first.name, first.line, k8sSecretName(k.Value), ErrBadName))
		} else if !ok {
			k8s[k8sSecretName(k.Value)] = named{k.Value, d.line(k)}
		}
		c = deref(c)
		if c.Kind != yaml.MappingNode {
			d.fail(c, 0, "", path, errors.New("expected {file: /absolute/path}"))
			return
		}
		d.dupKeys(c, 0, "", path)
		d.pairs(c, func(k2, c2 *yaml.Node) {
			if k2.Value != "file" {
				d.unknownKey(k2, 0, "", path+"."+truncate(k2.Value, 64), "a secret", []string{"file"})
				return
			}
			sec.File, _ = d.text(c2, 0, "", path+".file")
			if !strings.HasPrefix(sec.File, "/") || strings.ContainsAny(sec.File, ",\"\n\x00") {
				d.fail(c2, 0, "", path+".file", fmt.Errorf("%q: give the absolute path of the file on the host (no commas or quotes)", sec.File))
			}
		})
		if sec.File == "" {
			d.fail(k, 0, "", path+".file", errors.New("missing: the file holding the secret"))
		}
		out = append(out, sec)
	})
	return out
}

// chunkedUsers is the users list decoded in chunks.
type chunkedUsers struct {
	keyLine int // line of the `users:` key
	users   []QuotaSpec
	lines   []userLines
	probs   []*Problem
	over    bool // a chunk's decoder spent its visit budget
}

// usersBlock finds a top-level `users:` key followed by a block list and
// returns the key's line (1-based), the byte range of the list and the
// byte offsets and lines of its items. ok is false when the layout is
// anything else.
func usersBlock(data []byte) (keyLine, start, end int, items []int, itemLines []int, ok bool) {
	line, pos := 0, 0
	indent := -1
	for pos < len(data) {
		line++
		next := bytes.IndexByte(data[pos:], '\n')
		lineEnd := len(data)
		if next >= 0 {
			lineEnd = pos + next + 1
		}
		text := data[pos:lineEnd]
		switch {
		case keyLine == 0:
			if isUsersKey(text) {
				keyLine, start = line, lineEnd
			}
		default:
			trimmed := bytes.TrimLeft(text, " ")
			ind := len(text) - len(trimmed)
			body := bytes.TrimRight(trimmed, " \r\n")
			if len(body) == 0 || body[0] == '#' {
				break
			}
			isItem := body[0] == '-' && (len(body) == 1 || body[1] == ' ')
			if indent < 0 {
				if !isItem {
					return 0, 0, 0, nil, nil, false
				}
				indent = ind
			}
			switch {
			case ind == indent && isItem:
				items = append(items, pos)
				itemLines = append(itemLines, line)
			case ind > indent:
			case ind == 0:
				return keyLine, start, pos, items, itemLines, len(items) > 0
			default:
				return 0, 0, 0, nil, nil, false
			}
		}
		pos = lineEnd
	}
	return keyLine, start, len(data), items, itemLines, keyLine > 0 && len(items) > 0
}

// isUsersKey reports whether a line is exactly `users:`, maybe followed by
// blanks and a comment.
func isUsersKey(text []byte) bool {
	rest, ok := bytes.CutPrefix(text, []byte("users:"))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return len(rest) == 0 || rest[0] == '\n' || rest[0] == '\r' || rest[0] == '#'
}

// chunkUsers is how many users a chunk holds at most, and chunkBytes how
// many bytes of YAML (a chunk of a single larger user holds it alone): a
// YAML tree takes about 50 times its text, so each CPU's tree stays small.
const (
	chunkUsers = 2048
	chunkBytes = 256 << 10
)

// maxUserBytes bounds the YAML text of one user in a chunked users list,
// and wholeParseMax the rest of such a file: both are checked before a
// tree is built, so a 32 MiB spec cannot take gigabytes as one tree.
const maxUserBytes = 1 << 20

func parseChunked(name string, data []byte) (*Spec, error) {
	keyLine, start, end, items, itemLines, ok := usersBlock(data)
	if !ok {
		return nil, errNotChunkable
	}
	if err := checkSizes(name, data, start, end, items, itemLines); err != nil {
		return nil, err
	}
	cu := &chunkedUsers{keyLine: keyLine}
	if len(items) > MaxUsers {
		cu.probs = append(cu.probs, &Problem{File: name, Line: keyLine, Field: "users", Err: fmt.Errorf("%d users, over the limit of %d (MaxUsers): %w", len(items), MaxUsers, ErrTooLarge)})
	} else if err := decodeChunks(name, data, end, items, itemLines, cu); err != nil {
		return nil, err
	}
	// The rest of the file, with the list's lines blanked so that lines
	// keep their numbers.
	rest := make([]byte, 0, start+(len(data)-end)+bytes.Count(data[start:end], []byte{'\n'}))
	rest = append(rest, data[:start]...)
	for range bytes.Count(data[start:end], []byte{'\n'}) {
		rest = append(rest, '\n')
	}
	rest = append(rest, data[end:]...)
	var doc yaml.Node
	if err := yaml.Load(rest, &doc); err != nil {
		return nil, errNotChunkable
	}
	d := &decoder{file: name}
	s, err := d.top(name, &doc, cu)
	if err != nil {
		return nil, err
	}
	if d.over || cu.over {
		return nil, incomplete(append(s.parsed, d.probs...))
	}
	s.parsed = append(s.parsed, d.probs...)
	return s, nil
}

// checkSizes refuses, before any tree is built, a users list with a user
// over maxUserBytes of text and a file whose part outside the users list
// is over wholeParseMax.
func checkSizes(name string, data []byte, start, end int, items, itemLines []int) error {
	var ps []*Problem
	for i, at := range items {
		next := end
		if i+1 < len(items) {
			next = items[i+1]
		}
		if next-at > maxUserBytes {
			ps = append(ps, &Problem{File: name, Line: itemLines[i], Field: userPath(i, false), Err: fmt.Errorf("%d bytes of YAML for one user, over the limit of %d: %w", next-at, maxUserBytes, ErrTooLarge)})
			if len(ps) == 16 {
				break
			}
		}
	}
	if rest := len(data) - (end - start); rest > wholeParseMax {
		ps = append(ps, &Problem{File: name, Err: fmt.Errorf("%d bytes outside the users list, over the limit of %d: %w", rest, wholeParseMax, ErrTooLarge)})
	}
	if len(ps) == 0 {
		return nil
	}
	return incomplete(ps)
}

// chunkStarts splits the users list into chunks of at most chunkUsers
// users and, unless one user alone is larger, chunkBytes bytes; it
// returns the index of each chunk's first user.
func chunkStarts(items []int, end int) []int {
	var starts []int
	for i := range items {
		if len(starts) == 0 || i-starts[len(starts)-1] == chunkUsers {
			starts = append(starts, i)
			continue
		}
		next := end
		if i+1 < len(items) {
			next = items[i+1]
		}
		if next-items[starts[len(starts)-1]] > chunkBytes {
			starts = append(starts, i)
		}
	}
	return starts
}

// decodeChunks parses and decodes the users list in chunks on all CPUs.
func decodeChunks(name string, data []byte, end int, items, itemLines []int, cu *chunkedUsers) error {
	n := len(items)
	cu.users = make([]QuotaSpec, n)
	cu.lines = make([]userLines, n)
	starts := chunkStarts(items, end)
	chunks := len(starts)
	probs := make([][]*Problem, chunks)
	errs := make([]error, chunks)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Go(func() {
			for c := range work {
				last := n
				if c+1 < chunks {
					last = starts[c+1]
				}
				probs[c], errs[c] = decodeChunk(name, data, end, items, itemLines, starts[c], last, cu)
			}
		})
	}
	for c := range chunks {
		work <- c
	}
	close(work)
	wg.Wait()
	for c := range chunks {
		switch {
		case errs[c] == errOverBudget:
			cu.over = true
		case errs[c] != nil:
			return errs[c]
		}
		cu.probs = append(cu.probs, probs[c]...)
	}
	return nil
}

// errOverBudget: a chunk held more values than a decoder walks.
var errOverBudget = errors.New("over the visit budget")

func decodeChunk(name string, data []byte, end int, items, itemLines []int, first, last int, cu *chunkedUsers) ([]*Problem, error) {
	stop := end
	if last < len(items) {
		stop = items[last]
	}
	var doc yaml.Node
	if err := yaml.Load(data[items[first]:stop], &doc); err != nil {
		if len(data) <= wholeParseMax {
			return nil, errNotChunkable
		}
		return nil, syntaxProblem(name, itemLines[first]-1, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.SequenceNode || len(root.Content) != last-first || hasAnchors(root) {
		return nil, errNotChunkable
	}
	d := &decoder{file: name, off: itemLines[first] - 1}
	for j, item := range root.Content {
		i := first + j
		q, ln := d.user(item, i, false)
		d.needName(item, i, &q, &ln)
		cu.users[i], cu.lines[i] = q, ln
	}
	if d.over {
		return d.probs, errOverBudget
	}
	return d.probs, nil
}

// hasAnchors reports whether a chunk defines or uses anchors (they may
// point across chunks, so such a file is parsed whole).
func hasAnchors(n *yaml.Node) bool {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAnchors(c) {
			return true
		}
	}
	return false
}
