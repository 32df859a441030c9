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
	Name     string         `json:"name"`
	Status   Status         `json:"status"`
	Message  string         `json:"message"`
	Details  map[string]any `json:"details,omitempty"`
	Duration time.Duration  `json:"-"`
}

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
type Configured struct {
	Inner    Check
	Timeout  time.Duration
	Profiles []Profile
}

// Name is the wrapped check's name.
func (c Configured) Name() string { return c.Inner.Name() }

// Check runs the wrapped check.
func (c Configured) Check(ctx context.Context) Result { return c.Inner.Check(ctx) }

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

func skipf(format string, args ...any) Result {
	return Result{Status: StatusSkip, Message: fmt.Sprintf(format, args...)}
}

// with returns r with details d.
func (r Result) with(d map[string]any) Result {
	r.Details = d
	return r
}
