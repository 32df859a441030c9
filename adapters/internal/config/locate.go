package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/tendkit/tend/cleanup"
)

// LeftOut is a sweep rule that cannot be located in this environment and
// is left out of the run, while the other rules run: a rule under "~" when
// the home directory is unknown (HOME unset, empty or "/", as in containers
// started with an arbitrary uid), or a `cache:` the tool itself could not
// find either.
type LeftOut struct {
	// Field is the rule's place in the config ("sweep.rules[2]").
	Field string `json:"field"`
	// Rule is what the rule names: its path or "cache: NAME".
	Rule string `json:"rule"`
	// Reason says why it cannot be located.
	Reason string `json:"reason"`
}

// homeKnown returns home cleaned, or "" when it is not a usable home
// directory: unset, empty, relative, or "/".
func homeKnown(home string) string {
	if home == "" || !filepath.IsAbs(home) {
		return ""
	}
	if h := filepath.Clean(home); h != "/" {
		return h
	}
	return ""
}

// describeHome says what is wrong with home, for a LeftOut reason.
func describeHome(home string) string {
	if home == "" {
		return "HOME is unset"
	}
	return fmt.Sprintf("HOME is %q", home)
}

// expandVars replaces ${NAME} and ${NAME:-default} in every Path field
// under v (field is v's place in the config, for errors). $$ stands for a
// literal $; a $ not followed by { or $ is kept as it is.
func expandVars(v reflect.Value, field string, env map[string]string, c *checker) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandVars(v.Elem(), field, env, c)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !t.Field(i).IsExported() {
				continue
			}
			sub := name
			if field != "" {
				sub = field + "." + name
			}
			expandVars(v.Field(i), sub, env, c)
		}
	case reflect.Slice:
		for i := range v.Len() {
			expandVars(v.Index(i), fmt.Sprintf("%s[%d]", field, i), env, c)
		}
	case reflect.String:
		if v.Type() == reflect.TypeFor[Path]() && v.CanSet() && strings.Contains(v.String(), "$") {
			s, err := ExpandVars(v.String(), env)
			if err != nil {
				c.add(field, "%v", err)
				return
			}
			v.SetString(s)
		}
	}
}

// ExpandVars replaces ${NAME} and ${NAME:-default} in s with values from
// env, as a shell or docker compose does: the default applies when NAME is
// unset or empty. $$ is a literal $; any other $ is kept. NAME unset with
// no default is an error naming it.
func ExpandVars(s string, env map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: ${ at offset %d is not closed by }", s, i)
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("%q: ${%s} is not a variable name (letters, digits and _, not starting with a digit; ${NAME:-default} for a default)", s, expr)
		}
		val, ok := env[name]
		switch {
		case ok && val != "":
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		case ok:
			// set but empty, no default: empty, as a shell does
		default:
			return "", fmt.Errorf("%q: $%s is not set and has no default (write ${%s:-DEFAULT})", s, name, name)
		}
		i += end
	}
	return b.String(), nil
}

func validVarName(n string) bool {
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return false
	}
	for _, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// locate resolves each rule's `cache:` to its path (through the tool's own
// variables) and marks the rules that cannot be located here (see
// LeftOut); it runs before "~" expansion and validation. A rule whose cache
// has several directories (CONDA_PKGS_DIRS) gets the first here and the
// rest in split, after validation. user is the user name when no
// variable gives one (see Options.User).
func (s *Sweep) locate(home string, env map[string]string, user string, c *checker) {
	if s == nil {
		return
	}
	known := homeKnown(home)
	lookup := func(k string) (string, bool) {
		switch {
		case k == "HOME":
			return known, known != ""
		case k == "LOGNAME" && user != "" && env["LOGNAME"] == "" && env["USER"] == "" && env["LNAME"] == "" && env["USERNAME"] == "":
			return user, true // getpass.getuser()'s fallback: the password database
		}
		v, ok := env[k]
		return v, ok
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		f := fmt.Sprintf("sweep.rules[%d]", i)
		if r.Cache == "" {
			if known == "" && unexpanded(string(r.Path)) {
				r.leave(f, string(r.Path), describeHome(home)+": the home directory is unknown")
			}
			continue
		}
		if r.Path != "" {
			c.add(f+".cache", "cache %q and path %q are exclusive: name one", r.Cache, r.Path)
			continue
		}
		cache, err := cleanup.LookupCache(r.Cache)
		if err != nil {
			c.add(f+".cache", "%v", err)
			continue
		}
		roots, err := cache.Roots(lookup)
		switch {
		case errors.Is(err, cleanup.ErrNotLocated):
			r.leave(f, "cache: "+r.Cache, describeHomeIn(err, home))
			continue
		case err != nil:
			c.add(f+".cache", "%v", err)
			continue
		}
		r.Path, r.extra = Path(roots[0]), roots[1:]
		if r.Layout == "" && cache.Layout != cleanup.LayoutPlain {
			r.Layout = string(cache.Layout)
		}
	}
}

// describeHomeIn is the reason a cache cannot be located: HOME's value
// when that is the cause, else what the lookup said.
func describeHomeIn(err error, home string) string {
	if errors.Is(err, cleanup.ErrNoHome) {
		return describeHome(home) + ": the home directory is unknown"
	}
	return err.Error()
}

func (r *SweepRule) leave(field, what, reason string) {
	r.leftOut = &LeftOut{Field: field, Rule: what, Reason: reason}
}

// split removes the rules left out (recording them in LeftOut) and adds a
// rule for each further directory of a multi-directory cache; it runs
// after validation, so that errors name the rules as written.
func (s *Sweep) split() {
	if s == nil {
		return
	}
	var rules []SweepRule
	for _, r := range s.Rules {
		if r.leftOut != nil {
			s.LeftOut = append(s.LeftOut, *r.leftOut)
			continue
		}
		extra := r.extra
		r.extra = nil
		rules = append(rules, r)
		for _, p := range extra {
			more := r
			more.Path = Path(p)
			rules = append(rules, more)
		}
	}
	s.Rules = rules
	var protect []Path
	for i, p := range s.Protect {
		if unexpanded(string(p)) {
			s.LeftOut = append(s.LeftOut, LeftOut{Field: fmt.Sprintf("sweep.protect[%d]", i), Rule: string(p), Reason: "the home directory is unknown"})
			continue
		}
		protect = append(protect, p)
	}
	s.Protect = protect
}
