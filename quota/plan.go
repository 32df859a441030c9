package quota

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/tendkit/tend/units"
)

// Plan is a spec made concrete for one host: every user with the defaults
// merged in and GPUs, ports and CPU sets allocated, plus the warnings that
// did not stop it. The renderers take Plan.Users.
type Plan struct {
	Host     Host          `json:"host"`
	Headroom units.Percent `json:"headroom"`
	Users    []QuotaSpec   `json:"users"`
	// Warnings are sorted by line; one inherited by many users from the
	// same line of `defaults:` is listed once (Problem.Others counts the
	// rest).
	Warnings []*Problem `json:"-"`
}

// PlanOptions tune Spec.Plan.
type PlanOptions struct {
	// Previous is an earlier plan's users, kept where possible (see
	// AllocateOptions.Previous).
	Previous []QuotaSpec
}

// Plan merges the defaults into every user, attaches the secrets' files,
// allocates (Allocate) and validates (Validate) against host, which is
// ignored when the spec names its own host. Every problem of the spec is
// returned at once, sorted by line: the parse problems ParseSpec found,
// then what allocation and validation find, except where they would only
// repeat a value that did not parse. A value inherited from `defaults:` is
// blamed on the defaults' line, once for all the users that inherit it.
// The plan comes back even with problems, holding what could be resolved.
func (s *Spec) Plan(host Host, opts PlanOptions) (*Plan, error) {
	byHand := s.Host != nil
	if byHand {
		host = *s.Host
	}
	p := &Plan{Host: host, Headroom: s.Headroom}
	if p.Headroom == 0 {
		p.Headroom = DefaultHeadroom
	}
	secrets := make(map[string]string, len(s.Secrets))
	for _, sec := range s.Secrets {
		secrets[sec.Name] = sec.File
	}
	users := make([]QuotaSpec, len(s.Users))
	for i, q := range s.Users {
		u := q.WithDefaults(s.Defaults)
		if len(u.Secrets) > 0 {
			u.Secrets = append([]Secret(nil), u.Secrets...)
			for j := range u.Secrets {
				u.Secrets[j].File = secrets[u.Secrets[j].Name]
			}
		}
		users[i] = u
	}
	var aps, vps problems
	p.Users = allocate(host, users, AllocateOptions{PortRange: s.PortRange, Previous: opts.Previous}, &aps)
	errs := append([]*Problem(nil), s.parsed...)
	// A user whose request could not be allocated is not validated on it
	// again ("not resolved").
	failed := make(map[int]fieldSet)
	for _, pr := range aps.errs {
		if f, ok := fieldOf(pr.Field); ok && pr.index > 0 {
			failed[pr.index-1] |= 1 << f
		}
		if pr, keep := s.place(pr, nil); keep {
			errs = append(errs, pr)
		}
	}
	validate(indexHost(host), p.Users, ValidateOptions{Headroom: s.Headroom, HostByHand: byHand}, &vps)
	for _, pr := range vps.errs {
		if pr, keep := s.place(pr, failed); keep {
			errs = append(errs, pr)
		}
	}
	for _, w := range vps.warnings {
		if w, keep := s.place(w, failed); keep {
			p.Warnings = append(p.Warnings, w)
		}
	}
	errs = groupProblems(errs)
	SortProblems(errs)
	if len(errs) > maxProblems {
		errs = append(errs[:maxProblems], &Problem{File: s.File, Err: fmt.Errorf("%d more problems not listed: %w", len(errs)-maxProblems, ErrTooLarge)})
	}
	p.Warnings = groupProblems(p.Warnings)
	SortProblems(p.Warnings)
	return p, asError(errs)
}

// place turns a problem about a user's field ("memory") into one about the
// spec's field path ("users[1].memory" or "defaults.memory") with its
// line, in constant time. keep is false for a problem about a value that
// already failed to parse (or to allocate), which would only repeat it.
func (s *Spec) place(pr *Problem, failed map[int]fieldSet) (*Problem, bool) {
	out := *pr
	out.File = s.File
	i := pr.index - 1
	if pr.Field == "headroom" || i < 0 || i >= len(s.users) {
		out.Line = s.top[pr.Field]
		return &out, true
	}
	ln := &s.users[i]
	f, known := fieldOf(pr.Field)
	if known && (ln.failed.has(f) || failed[i].has(f)) {
		return nil, false
	}
	base := userPath(i, s.Single)
	out.Field, out.Line = base+"."+pr.Field, int(ln.item)
	switch {
	case known && ln.field[f] > 0 && s.ownsSub(i, f, pr.Field):
		out.Line = int(ln.field[f])
	case known && s.defaults.field[f] > 0:
		if s.defaults.failed.has(f) {
			return nil, false
		}
		out.Field, out.Line = "defaults."+pr.Field, int(s.defaults.field[f])
	case pr.cause != "":
		// The setting is unset everywhere; blame the defaults when the
		// value that led to the problem is theirs.
		if c, ok := fieldOf(pr.cause); ok && ln.field[c] == 0 && s.defaults.field[c] > 0 {
			out.Field, out.Line = "defaults."+pr.Field, int(s.defaults.field[c])
		}
	}
	out.Err = withOtherLine(pr.Err, func(j int) int {
		if j < 0 || j >= len(s.users) {
			return 0
		}
		return int(cmp.Or(s.users[j].field[fieldName], s.users[j].item))
	})
	if strings.HasPrefix(out.Field, "defaults.") {
		out.User = pr.User
	}
	return &out, true
}

// ownsSub reports whether a problem about an env variable or a ulimit
// ("env.PATH", "ulimits.stack") is about one the user sets itself rather
// than one merged in from the defaults.
func (s *Spec) ownsSub(i int, f field, path string) bool {
	_, sub, ok := strings.Cut(path, ".")
	if !ok || i >= len(s.Users) {
		return true
	}
	switch f {
	case fieldEnv:
		_, own := s.Users[i].Env[sub]
		return own
	case fieldUlimits:
		return hasUlimit(s.Users[i].Ulimits, sub)
	}
	return true
}
