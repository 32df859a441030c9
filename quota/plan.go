package quota

import (
	"fmt"

	"github.com/hashicorp/go-multierror"

	"github.com/tendkit/tend/units"
)

// Plan is a spec made concrete for one host: every user with the defaults
// merged in and GPUs, ports and CPU sets allocated, plus the warnings that
// did not stop it. The renderers take Plan.Users.
type Plan struct {
	Host     Host          `json:"host"`
	Headroom units.Percent `json:"headroom"`
	Users    []QuotaSpec   `json:"users"`
	Warnings []*Problem    `json:"-"`
}

// PlanOptions tune Spec.Plan.
type PlanOptions struct {
	// Previous is an earlier plan's users, kept where possible (see
	// AllocateOptions.Previous).
	Previous []QuotaSpec
}

// Plan merges the defaults into every user, allocates (Allocate) and
// validates (Validate) against host, which is ignored when the spec names
// its own host. Every problem is returned at once, located in the file:
// a value inherited from `defaults:` is blamed on the defaults' line.
func (s *Spec) Plan(host Host, opts PlanOptions) (*Plan, error) {
	if s.Host != nil {
		host = *s.Host
	}
	p := &Plan{Host: host, Headroom: s.Headroom}
	if p.Headroom == 0 {
		p.Headroom = DefaultHeadroom
	}
	users := make([]QuotaSpec, len(s.Users))
	for i, q := range s.Users {
		users[i] = q.WithDefaults(s.Defaults)
	}
	var errs *multierror.Error
	users, err := Allocate(host, users, AllocateOptions{PortRange: s.PortRange, Previous: opts.Previous})
	for _, pr := range Problems(err) {
		errs = multierror.Append(errs, s.place(pr))
	}
	p.Users = users
	if errs.ErrorOrNil() == nil {
		warnings, err := Validate(host, users, ValidateOptions{Headroom: s.Headroom})
		for _, pr := range Problems(err) {
			errs = multierror.Append(errs, s.place(pr))
		}
		for _, w := range warnings {
			p.Warnings = append(p.Warnings, s.place(w))
		}
	}
	return p, errs.ErrorOrNil()
}

// place turns a problem about a user's field ("memory") into one about the
// spec's field path ("users[1].memory" or "defaults.memory") with its line.
func (s *Spec) place(pr *Problem) *Problem {
	out := *pr
	idx := -1
	for i, q := range s.Users {
		if q.Name == pr.User {
			idx = i
			break
		}
	}
	if pr.Field != "" && pr.Field != "headroom" {
		base := "container"
		if !s.Single && idx >= 0 {
			base = fmt.Sprintf("users[%d]", idx)
		}
		path := base + "." + pr.Field
		if _, own := s.lookup(path); !own {
			if _, inDefaults := s.lookup("defaults." + pr.Field); inDefaults {
				path = "defaults." + pr.Field
			}
		}
		out.Field = path
	}
	return s.locate(&out)
}

// lookup reports whether the file had a key at path (or under it).
func (s *Spec) lookup(path string) (int, bool) {
	if l, ok := s.lines[path]; ok {
		return l, true
	}
	return 0, false
}
