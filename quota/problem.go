package quota

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/tendkit/tend/quota/hostinfo"
)

// Problem is one thing wrong (or, when Warning is set, risky) in a spec:
// where it is (file, line, field path), whose it is (the user) and what.
// A problem inherited by many users from the same line of `defaults:` is
// reported once, naming the first user and counting the others in Others.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	User    string `json:"user,omitempty"`
	Others  int    `json:"others,omitempty"` // further users with the same problem
	Field   string `json:"field,omitempty"`  // "users[1].memory", "defaults.shm_size", "memory"
	Warning bool   `json:"warning,omitempty"`
	Err     error  `json:"-"`

	index int    // 1 + the index of the user in the list it was found in; 0: none
	cause string // the setting whose value led to a problem about an unset one
}

// Error prints "spec.yaml:12: user bob: field users[1].memory: ...".
func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	}
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.User != "" {
		b.WriteString("user " + printable(p.User))
		if p.Others > 0 {
			fmt.Fprintf(&b, " (and %d more)", p.Others)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString("field " + printable(p.Field) + ": ")
	}
	b.WriteString(p.Message())
	return b.String()
}

// Unwrap returns the underlying error.
func (p *Problem) Unwrap() error { return p.Err }

// Message returns what is wrong, without where.
func (p *Problem) Message() string {
	if p.Err == nil {
		return "problem"
	}
	return p.Err.Error()
}

// Sentinel errors wrapped by problems that callers may branch on.
var (
	ErrGPUConflict   = errors.New("GPU given to more than one user")
	ErrGPUNotOnHost  = errors.New("GPU not on the host")
	ErrNoGPUs        = errors.New("the host has no GPU")
	ErrPortConflict  = errors.New("host port used twice")
	ErrOverHeadroom  = errors.New("memory over the host's headroom")
	ErrNotEnoughGPUs = errors.New("not enough free GPUs")
	ErrDuplicateName = errors.New("user name used twice")
	ErrBadName       = errors.New("name not valid where it is used")
	ErrTooLarge      = hostinfo.ErrTooLarge
	ErrUnknownSecret = errors.New("secret not defined")
)

// problems collects problems for users (by index) or sections.
type problems struct {
	errs     []*Problem
	warnings []*Problem
}

// add records a problem of users[i] (i < 0: of no user).
func (ps *problems) add(i int, user, field string, format string, args ...any) {
	ps.errs = append(ps.errs, &Problem{User: user, Field: field, Err: fmt.Errorf(format, args...), index: i + 1})
}

func (ps *problems) warn(i int, user, field string, format string, args ...any) {
	ps.warnings = append(ps.warnings, &Problem{User: user, Field: field, Warning: true, Err: fmt.Errorf(format, args...), index: i + 1})
}

// because records that a problem about field (often unset) comes from the
// value of cause, so that Spec.Plan can blame the defaults when that value
// is inherited from them.
func because(p *[]*Problem, cause string) {
	(*p)[len(*p)-1].cause = cause
}

// err returns the problems as a *multierror.Error, or nil.
func (ps *problems) err() error { return asError(ps.errs) }

// asError returns problems as a *multierror.Error, or nil when there is none.
func asError(ps []*Problem) error {
	if len(ps) == 0 {
		return nil
	}
	m := &multierror.Error{Errors: make([]error, len(ps))}
	for i, p := range ps {
		m.Errors[i] = p
	}
	return m
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

// SortProblems orders problems by file and line, keeping the order in
// which they were found for problems on the same line. It is stable and
// O(n log n).
func SortProblems(ps []*Problem) {
	slices.SortStableFunc(ps, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
}

// groupProblems merges problems that are the same (file, line, field,
// message) but for their user, as happens when many users inherit one bad
// line of `defaults:`: the first keeps its user and counts the others.
// Order is kept; it runs in linear time.
func groupProblems(ps []*Problem) []*Problem {
	type key struct {
		file, field, msg string
		line             int
		warning          bool
	}
	first := make(map[key]*Problem, len(ps))
	out := ps[:0]
	for _, p := range ps {
		if !strings.HasPrefix(p.Field, "defaults.") {
			out = append(out, p)
			continue
		}
		k := key{p.File, p.Field, p.Message(), p.Line, p.Warning}
		if f, ok := first[k]; ok {
			f.Others++
			continue
		}
		first[k] = p
		out = append(out, p)
	}
	clear(ps[len(out):])
	return out
}

// printable returns s, or s quoted (and cut to 120 bytes) when it holds
// anything but printable ASCII or starts or ends with a space, so that a
// problem stays on one line and shows what the name really is.
func printable(s string) string {
	if strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return fmt.Sprintf("%.120q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return fmt.Sprintf("%.120q", s)
		}
	}
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
