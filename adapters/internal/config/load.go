// Package config loads tend's YAML config file (see docs/DESIGN.md): strict
// (unknown keys are errors), with errors that name the file, the line and the
// field, "~" expanded to the home directory, TEND_<SECTION>_<FIELD>
// environment overrides, and an embedded default. It produces plain structs;
// the adapters turn them into the packages' own option types, so the
// packages stay free of YAML.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/user"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	"go.yaml.in/yaml/v4"

	"github.com/tendkit/tend/internal/yamlerr"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is the file name given in errors about the embedded default.
const DefaultName = "<embedded default>"

// DefaultYAML returns the text of the embedded default config.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Options change where Load looks for the home directory and the
// environment. The zero value uses the process's own.
type Options struct {
	// Home replaces $HOME for "~" expansion and cache lookups; "" means
	// HOME from Env (or the process's environment when Env is nil).
	Home string
	// Env replaces os.Environ() for TEND_* overrides.
	Env []string
	// User is the user name a cache named after its user is found by
	// (torchinductor_$USER) when none of LOGNAME, USER, LNAME and
	// USERNAME is set, as Python's getpass.getuser() falls back to the
	// password database; "" means the entry of this process's uid, unless
	// Env is given (then none).
	User string
}

// user is User, else the password database's name for this process's
// uid when Env is not given.
func (o Options) user() string {
	if o.User != "" || o.Env != nil {
		return o.User
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// home is Home, else HOME from Env when Env is given, else $HOME.
func (o Options) home() string {
	if o.Home != "" {
		return o.Home
	}
	if o.Env != nil {
		return envMap(o.Env)["HOME"]
	}
	return os.Getenv("HOME")
}

// envMap turns KEY=VALUE pairs into a map; a later pair wins, as in exec.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func (o Options) env() []string {
	if o.Env != nil {
		return o.Env
	}
	return os.Environ()
}

// Error is one problem in a config: where it is and what is wrong.
type Error struct {
	File  string // file name, DefaultName, or "" for an environment variable
	Line  int    // 1-based; 0 when unknown
	Env   string // the environment variable the value came from, if any
	Value string // that variable's value
	Field string // dotted path such as "sweep.rules[0].older_than"
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Env != "":
		fmt.Fprintf(&b, "environment variable %s=%q", e.Env, e.Value)
	case e.Line > 0:
		fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	default:
		b.WriteString(e.File)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrEmpty is returned for a config that configures no task at all.
var ErrEmpty = errors.New("config is empty: it configures no sweep, rotate, images, health or jobs section")

// Load reads and validates the config file at path.
func Load(path string, opts Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Err: fmt.Errorf("read config: %w", err)}
	}
	return Parse(path, data, opts)
}

// Default returns the embedded default config, with overrides applied.
func Default(opts Options) (*Config, error) {
	return Parse(DefaultName, defaultYAML, opts)
}

// Parse validates data as a config file named name. Every problem found is
// returned at once (a *multierror.Error of *Error), not only the first.
func Parse(name string, data []byte, opts Options) (*Config, error) {
	var doc yaml.Node
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: name, Err: ErrEmpty}
	}
	if err := yaml.Load(data, &doc); err != nil {
		if strings.Contains(err.Error(), "no documents in stream") { // only comments
			return nil, &Error{File: name, Err: ErrEmpty}
		}
		return nil, &Error{File: name, Line: yamlerr.Line(err), Err: yamlerr.Message(err, typeNames...)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		return nil, &Error{File: name, Err: ErrEmpty}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: root.Line, Err: fmt.Errorf("expected a mapping of sections (sweep, rotate, images, health, jobs), found %s", kindName(root))}
	}
	p := &parser{file: name, envLines: map[int]envVar{}}
	var errs *multierror.Error
	for _, e := range p.applyEnv(root, opts.env()) {
		errs = multierror.Append(errs, e)
	}
	p.index(root, "")
	var cfg Config
	// Fields the decoder could not read are named once, by the decoder; the
	// rest of the config is still validated so that every problem shows.
	badFields := map[string]bool{}
	if err := root.Load(&cfg, yaml.WithKnownFields()); err != nil {
		var le *yaml.LoadErrors
		if !errors.As(err, &le) {
			return nil, &Error{File: name, Err: yamlerr.Message(err, typeNames...)}
		}
		for _, e := range le.Errors {
			fe := p.atColumn(e.Mark.Line, e.Mark.Column, errors.New(unknownKey(yamlerr.Clean(e.Message, typeNames...))))
			badFields[fe.Field] = true
			// A value the decoder could not read inside a field (a map
			// where a list was expected) is that field's problem too.
			for f := fe.Field; ; {
				i := strings.LastIndexAny(f, ".[")
				if i <= 0 {
					break
				}
				f = f[:i]
				badFields[f+".*"] = true
			}
			errs = multierror.Append(errs, fe)
		}
	}
	if errs == nil && cfg.empty() {
		return nil, &Error{File: name, Err: ErrEmpty}
	}
	env := envMap(opts.env())
	var pre checker
	expandVars(reflect.ValueOf(&cfg).Elem(), "", env, &pre)
	cfg.Sweep.locate(opts.home(), env, opts.user(), &pre)
	if h := homeKnown(opts.home()); h != "" {
		expandPaths(reflect.ValueOf(&cfg).Elem(), h)
	}
	for _, e := range append(pre.errs, validate(&cfg)...) {
		if !decodedBadly(badFields, e.field) {
			errs = multierror.Append(errs, p.field(e.field, e.err))
		}
	}
	if errs != nil {
		errs.Errors = oncePerVariable(errs.Errors)
		sort.SliceStable(errs.Errors, func(i, j int) bool { return errLine(errs.Errors[i]) < errLine(errs.Errors[j]) })
	}
	if errs.ErrorOrNil() != nil {
		return nil, errs
	}
	cfg.Sweep.split()
	return &cfg, nil
}

// decodedBadly reports whether the decoder already named field, or a field
// below it: a conclusion about a rule whose fields could not be read (no
// age limit, when older_than did not parse) would only be noise.
func decodedBadly(bad map[string]bool, field string) bool {
	// Parse marks every enclosing field of a field the decoder could not
	// read as "FIELD.*": one lookup each, however many problems there are.
	return bad[field] || bad[field+".*"]
}

// parser keeps what is needed to place an error: the line of each field and
// which lines stand for environment variables.
type parser struct {
	file     string
	fields   []fieldLine
	envLines map[int]envVar
}

type fieldLine struct {
	path      string
	key, line int  // line of the key and of the value's start
	keyCol    int  // column of the key (0 for a list item)
	col       int  // column of the value's start
	scalar    bool // the value is a scalar
}

// index records the line of every key in the tree under path.
func (p *parser) index(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := k.Value
			if path != "" {
				sub = path + "." + k.Value
			}
			p.fields = append(p.fields, fieldLine{path: sub, key: k.Line, keyCol: k.Column, line: v.Line, col: v.Column, scalar: v.Kind == yaml.ScalarNode})
			p.index(v, sub)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			sub := fmt.Sprintf("%s[%d]", path, i)
			p.fields = append(p.fields, fieldLine{path: sub, key: v.Line, line: v.Line, col: v.Column, scalar: v.Kind == yaml.ScalarNode})
			p.index(v, sub)
		}
	}
}

// at places an error found by the YAML decoder at line.
func (p *parser) at(line int, err error) *Error {
	e := &Error{File: p.file, Line: line, Err: err}
	best := ""
	for _, f := range p.fields {
		if (f.key == line || f.line == line) && len(f.path) > len(best) {
			best = f.path
		}
	}
	e.Field = best
	if env, ok := p.envLines[line]; ok {
		e.Env, e.Value, e.Line = env.name, env.value, 0
	}
	return e
}

// atColumn places an error found by the decoder at line and column: the
// field whose key (an unknown key) or scalar value starts there, when one
// does (several fields share a line in flow style, {interval: 1s,
// deadline: -10s}), else as at does.
func (p *parser) atColumn(line, col int, err error) *Error {
	for _, f := range p.fields {
		if col > 0 && f.key == line && f.keyCol == col {
			e := p.at(line, err)
			e.Field = f.path
			return e
		}
	}
	for _, f := range p.fields {
		if col > 0 && f.scalar && f.line == line && f.col == col {
			e := p.at(line, err)
			e.Field = f.path
			return e
		}
	}
	return p.at(line, err)
}

// field places a validation error about a field path.
func (p *parser) field(path string, err error) *Error {
	e := &Error{File: p.file, Field: path, Err: err}
	// A field left out has no line: the nearest enclosing one that is
	// written stands for it.
	for at := path; at != "" && e.Line == 0; at = parentField(at) {
		for _, f := range p.fields {
			if f.path == at {
				e.Line = f.key
			}
		}
	}
	if env, ok := p.envLines[e.Line]; ok {
		e.Env, e.Value, e.Line = env.name, env.value, 0
	}
	return e
}

// oncePerVariable keeps one of the errors an environment variable caused in
// every item of a list (TEND_ROTATE_KEEP=-2 in each rotated file), naming
// the field as "rotate.files[*].keep".
func oncePerVariable(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0]
	for _, err := range errs {
		if e, ok := err.(*Error); ok && e.Env != "" {
			e.Field = anyIndex.ReplaceAllString(e.Field, "[*]")
			key := e.Env + "\x00" + e.Field + "\x00" + e.Err.Error()
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		out = append(out, err)
	}
	return out
}

// anyIndex matches a list index in a field path.
var anyIndex = regexp.MustCompile(`\[[0-9]+\]`)

// parentField is "sweep.rules[0]" for "sweep.rules[0].older_than" and
// "sweep.rules" for "sweep.rules[0]"; "" at the top.
func parentField(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// errLine is the line an *Error points at; errors from the environment
// (line 0) come first.
func errLine(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Line
	}
	return 0
}

// typeNames turns the decoder's Go type names into words a user knows.
var typeNames = []string{"config.", "", "in type ", "in section "}

// expandPaths replaces a leading "~" in every Path field. With no home
// directory known the paths keep their "~", and validation names them.
func expandPaths(v reflect.Value, home string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandPaths(v.Elem(), home)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			expandPaths(v.Field(i), home)
		}
	case reflect.Slice:
		for i := range v.Len() {
			expandPaths(v.Index(i), home)
		}
	case reflect.String:
		if v.Type() == reflect.TypeFor[Path]() && v.CanSet() && home != "" {
			v.SetString(ExpandHome(v.String(), home))
		}
	}
}

// ExpandHome replaces a leading "~" or "~/" in p with home.
func ExpandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return strings.TrimRight(home, "/") + p[1:]
	}
	return p
}
