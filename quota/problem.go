package quota

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Problem is one thing wrong (or, when Warning is set, risky) in a spec:
// where it is (file, line, field path), whose it is (the user) and what.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	User    string `json:"user,omitempty"`
	Field   string `json:"field,omitempty"` // "users[1].memory", "defaults.shm_size", "memory"
	Warning bool   `json:"warning,omitempty"`
	Err     error  `json:"-"`
}

// Error prints "spec.yaml:12: user bob: field users[1].memory: ...".
func (p *Problem) Error() string {
	var parts []string
	switch {
	case p.File != "" && p.Line > 0:
		parts = append(parts, fmt.Sprintf("%s:%d", p.File, p.Line))
	case p.File != "":
		parts = append(parts, p.File)
	}
	if p.Warning {
		parts = append(parts, "warning")
	}
	if p.User != "" {
		parts = append(parts, "user "+p.User)
	}
	if p.Field != "" {
		parts = append(parts, "field "+p.Field)
	}
	parts = append(parts, fmt.Sprint(p.Err))
	return strings.Join(parts, ": ")
}

// Unwrap returns the underlying error.
func (p *Problem) Unwrap() error { return p.Err }

// Message returns what is wrong, without where.
func (p *Problem) Message() string { return fmt.Sprint(p.Err) }

// Sentinel errors wrapped by problems that callers may branch on.
var (
	ErrGPUConflict   = errors.New("GPU given to more than one user")
	ErrGPUNotOnHost  = errors.New("GPU not on the host")
	ErrPortConflict  = errors.New("host port used twice")
	ErrOverHeadroom  = errors.New("memory over the host's headroom")
	ErrNotEnoughGPUs = errors.New("not enough free GPUs")
)

// problems collects problems for one user or section.
type problems struct {
	errs     []*Problem
	warnings []*Problem
}

func (ps *problems) add(user, field string, format string, args ...any) {
	ps.errs = append(ps.errs, &Problem{User: user, Field: field, Err: fmt.Errorf(format, args...)})
}

func (ps *problems) warn(user, field string, format string, args ...any) {
	ps.warnings = append(ps.warnings, &Problem{User: user, Field: field, Warning: true, Err: fmt.Errorf(format, args...)})
}

// err returns the problems as a *multierror.Error, or nil.
func (ps *problems) err() error {
	var m *multierror.Error
	for _, p := range ps.errs {
		m = multierror.Append(m, p)
	}
	return m.ErrorOrNil()
}

// Problems returns the *Problem values inside err (a *multierror.Error, a
// single *Problem, or anything wrapping them).
func Problems(err error) []*Problem {
	var out []*Problem
	var m *multierror.Error
	if errors.As(err, &m) {
		for _, e := range m.Errors {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var p *Problem
	if errors.As(err, &p) {
		return []*Problem{p}
	}
	if err != nil {
		return []*Problem{{Err: err}}
	}
	return nil
}
