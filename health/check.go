package health

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Status is the outcome of one check.
type Status int

// The outcomes, from best to worst. Only Fail makes a report unhealthy.
const (
	StatusPass Status = iota // the thing works
	StatusSkip               // not applicable here (no GPU support built in, ...)
	StatusWarn               // works, but something needs a look
	StatusFail               // does not work
)

var statusNames = [...]string{StatusPass: "pass", StatusSkip: "skip", StatusWarn: "warn", StatusFail: "fail"}

func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return fmt.Sprintf("status(%d)", int(s))
	}
	return statusNames[s]
}

// MarshalText prints the status as "pass", "warn", "fail" or "skip".
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status printed by MarshalText.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("unknown health status %q", b)
}

// Result is what one check found: a status, a one-line message, optional
// structured details and how long the check took.
type Result struct {
	Name    string `json:"name"`
	Status  Status `json:"status"`
	Message string `json:"message"`
	// SkipReason says why a skipped check did not run.
	SkipReason SkipReason `json:"skip_reason,omitempty"`
	// CannotRun marks a failure that is not a verdict on the thing checked
	// but on the check itself: what it needs is missing (no NVML in this
	// build, no interpreter, no cgroup). A Configured check marked Optional
	// turns it into a skip.
	CannotRun bool           `json:"cannot_run,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	Duration  time.Duration  `json:"-"`
}

// SkipReason says why a check was skipped.
type SkipReason string

// The reasons a check skips.
const (
	// SkipReasonOptional: the check could not run (Result.CannotRun) and
	// the configuration marks it optional.
	SkipReasonOptional SkipReason = "optional"
)

// CannotRun returns the failed Result of a check that cannot run: err says
// why, hint what to do ("use the cgo build of tend-health"). The message
// reads "cannot run: ERR; HINT".
func CannotRun(err error, hint string) Result {
	msg := "cannot run: " + err.Error()
	if hint != "" {
		msg += "; " + hint
	}
	return Result{Status: StatusFail, Message: msg, CannotRun: true}
}

// Unavailable stands for a configured check that this build or this host
// cannot run at all (a GPU check in a binary without NVML). It fails with
// CannotRun(Err, Hint); wrap it in a Configured with Optional to skip
// instead.
type Unavailable struct {
	Label string
	Err   error
	Hint  string
	// IsLocal places the check in liveness, as the check it stands for
	// would be.
	IsLocal bool
}

// Name is Label.
func (u *Unavailable) Name() string { return u.Label }

// Local reports IsLocal.
func (u *Unavailable) Local() bool { return u.IsLocal }

// Check fails naming why the check cannot run and what to do.
func (u *Unavailable) Check(context.Context) Result { return CannotRun(u.Err, u.Hint) }

// MarshalJSON adds duration_ms to the fields.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"duration_ms"`
	}{plain(r), float64(r.Duration.Microseconds()) / 1000})
}

// Check is one thing the Prober proves. Check must honour ctx's deadline
// where it can; the Prober reports a check that does not return by its
// deadline as failed without waiting for it.
type Check interface {
	// Name identifies the check in reports ("disk /", "http jupyter").
	Name() string
	// Check runs the check once.
	Check(ctx context.Context) Result
}

// Starter is implemented by checks that watch for events over time (GPU
// XIDs, OOM kills): Start begins watching, Close stops. The Prober calls
// them from its own Start and Close.
type Starter interface {
	Start(ctx context.Context) error
	Close() error
}

// Profile is a Kubernetes-style probe kind that selects which checks run.
type Profile string

// The profiles. Liveness runs only process-local checks (cheap, no network,
// no subprocess); readiness runs everything configured; startup runs the
// readiness checks again and again until they pass or a deadline passes.
const (
	ProfileLiveness  Profile = "liveness"
	ProfileReadiness Profile = "readiness"
	ProfileStartup   Profile = "startup"
)

// ParseProfile reads a profile name.
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(strings.ToLower(strings.TrimSpace(s))); p {
	case ProfileLiveness, ProfileReadiness, ProfileStartup:
		return p, nil
	case "":
		return ProfileReadiness, nil
	}
	return "", fmt.Errorf("unknown profile %q: use liveness, readiness or startup", s)
}

// local is implemented by checks that only look at this process's own
// machine state (disk, memory, open files) and so belong to liveness.
type local interface{ Local() bool }

// Configured wraps a Check with its own deadline and profile membership.
// A zero Timeout uses the Prober's CheckTimeout; empty Profiles uses the
// default (liveness for process-local checks, readiness and startup for all).
// With Optional, a result that says the check cannot run (CannotRun) is
// reported as a skip with SkipReasonOptional instead of a failure.
type Configured struct {
	Inner    Check
	Timeout  time.Duration
	Profiles []Profile
	Optional bool
}

// Name is the wrapped check's name.
func (c Configured) Name() string { return c.Inner.Name() }

// Check runs the wrapped check.
func (c Configured) Check(ctx context.Context) Result {
	r := c.Inner.Check(ctx)
	if c.Optional && r.CannotRun && r.Status == StatusFail {
		r.Status, r.SkipReason = StatusSkip, SkipReasonOptional
	}
	return r
}

// Start starts the wrapped check if it is a Starter.
func (c Configured) Start(ctx context.Context) error {
	if s, ok := c.Inner.(Starter); ok {
		return s.Start(ctx)
	}
	return nil
}

// Close closes the wrapped check if it is a Starter.
func (c Configured) Close() error {
	if s, ok := c.Inner.(Starter); ok {
		return s.Close()
	}
	return nil
}

// InProfile reports whether the check runs in profile p.
func InProfile(c Check, p Profile) bool {
	if cc, ok := c.(Configured); ok {
		if len(cc.Profiles) > 0 {
			for _, q := range cc.Profiles {
				if q == p || (p == ProfileStartup && q == ProfileReadiness) {
					return true
				}
			}
			return false
		}
		c = cc.Inner
	}
	if p == ProfileLiveness {
		l, ok := c.(local)
		return ok && l.Local()
	}
	return true
}

func passf(format string, args ...any) Result {
	return Result{Status: StatusPass, Message: fmt.Sprintf(format, args...)}
}

func warnf(format string, args ...any) Result {
	return Result{Status: StatusWarn, Message: fmt.Sprintf(format, args...)}
}

func failf(format string, args ...any) Result {
	return Result{Status: StatusFail, Message: fmt.Sprintf(format, args...)}
}

// with returns r with details d.
func (r Result) with(d map[string]any) Result {
	r.Details = d
	return r
}
