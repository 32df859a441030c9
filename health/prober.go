package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/tendkit/tend/units"
)

// DefaultTimeout bounds a whole probe when the Prober's Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Prober runs health checks and returns a verdict on time.
//
// Run selects the checks of a profile (see InProfile), starts each in its own
// goroutine under its own deadline (the check's Configured.Timeout, else
// CheckTimeout, else the whole probe's) inside one overall deadline
// (Timeout, else DefaultTimeout, extended to the longest Configured.Timeout
// among the profile's checks, which asked for that time; never later than
// ctx's). The context
// a check gets ends a little before that deadline (a quarter of its time, at
// most 250ms) so that it can stop its work and report its own failure; a
// check that has still not returned by the deadline is reported as failed
// ("timed out after 2s", also when the overall deadline ends it) and abandoned: its goroutine may keep running, blocked in a system
// call, but Run returns by the overall deadline regardless. A check that
// panics is reported as failed. The Report lists one Result per check in
// the order of Checks, and is healthy when none failed: warnings and skips
// do not make a container unhealthy. Every name and message passes through
// RedactSecrets and has unprintable characters replaced, so a report is
// safe to print and to store (Docker keeps it in `docker inspect`).
//
// Checks that watch events over time (GPU XIDs, OOM kills) implement
// Starter: call Start once before the first Run, so that they see what
// happens after it, and Close when done. A one-shot probe may skip Start;
// such checks then judge from state alone.
//
// WaitReady implements the startup profile: it repeats the startup checks
// (the readiness checks and those placed in startup only) every interval
// until they pass or ctx ends.
type Prober struct {
	// Checks are the configured checks, in report order.
	Checks []Check
	// Timeout bounds one Run (0 = DefaultTimeout), or the longest
	// Configured.Timeout of the checks it runs if that is longer.
	Timeout time.Duration
	// CheckTimeout bounds each check that has no timeout of its own
	// (0 = the whole Timeout).
	CheckTimeout time.Duration
	// Logger receives one debug line per check (nil = discard).
	Logger *slog.Logger
	// Now is the clock (nil = time.Now).
	Now func() time.Time
}

func (p *Prober) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Prober) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Start starts every check that watches events over time. Checks that fail
// to start are reported together; the others stay started.
func (p *Prober) Start(ctx context.Context) error {
	var errs *multierror.Error
	for _, c := range p.Checks {
		if s, ok := c.(Starter); ok {
			if err := s.Start(ctx); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("start check %s: %w", c.Name(), err))
			}
		}
	}
	return errs.ErrorOrNil()
}

// Close stops what Start started.
func (p *Prober) Close() error {
	var errs *multierror.Error
	for _, c := range p.Checks {
		if s, ok := c.(Starter); ok {
			if err := s.Close(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("close check %s: %w", c.Name(), err))
			}
		}
	}
	return errs.ErrorOrNil()
}

// Run runs the checks of profile once (Startup runs the readiness checks
// once; see WaitReady to retry) and returns the report by the deadline.
func (p *Prober) Run(ctx context.Context, profile Profile) Report {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var checks []Check
	for _, c := range p.Checks {
		if InProfile(c, profile) {
			checks = append(checks, c)
			if cc, ok := c.(Configured); ok {
				timeout = max(timeout, cc.Timeout)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := p.now()
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = p.runOne(ctx, c) })
	}
	wg.Wait()
	return Report{Profile: profile, Time: start, Duration: p.now().Sub(start), Results: results}
}

// runOne runs c under its deadline and returns at the deadline even when c
// does not. The check's own context ends a little earlier (a quarter of its
// time, at most graceMax), so that a check that honours it (a subprocess
// killed with its group) reports its own failure and cleans up before the
// Prober gives up on it.
func (p *Prober) runOne(ctx context.Context, c Check) Result {
	start := p.now()
	d := p.CheckTimeout
	if cc, ok := c.(Configured); ok && cc.Timeout > 0 {
		d = cc.Timeout
	}
	hard, ok := ctx.Deadline()
	if d > 0 && (!ok || time.Now().Add(d).Before(hard)) {
		hard, ok = time.Now().Add(d), true
	}
	cctx := ctx
	var wait <-chan time.Time
	if ok {
		left := time.Until(hard)
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, left-min(left/4, graceMax))
		defer cancel()
		t := time.NewTimer(left)
		defer t.Stop()
		wait = t.C
	}
	done := make(chan Result, 1) // buffered: an abandoned check can still send
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- failf("check panicked: %v", v)
			}
		}()
		done <- c.Check(cctx)
	}()
	var r Result
	select {
	case r = <-done:
	case <-wait:
		r = failf("timed out after %s", units.Round(p.now().Sub(start)))
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r = failf("timed out after %s", units.Round(p.now().Sub(start)))
		} else {
			r = failf("stopped after %s: %v", units.Round(p.now().Sub(start)), context.Cause(ctx))
		}
	}
	if r.Name == "" {
		r.Name = c.Name()
	}
	r.Name, r.Message = scrub(r.Name), scrub(r.Message)
	r.Duration = p.now().Sub(start)
	p.log().Debug("health check", "check", r.Name, "status", r.Status.String(), "message", r.Message, "duration", units.Round(r.Duration))
	return r
}

// graceMax is the most a check's own deadline comes before the Prober's.
const graceMax = 250 * time.Millisecond

// WaitReady runs the startup profile's checks (the readiness checks and
// those placed in startup only) every interval until they all pass or ctx
// ends, and returns the last report. Each attempt is bounded by Timeout
// as in Run.
func (p *Prober) WaitReady(ctx context.Context, interval time.Duration) Report {
	if interval <= 0 {
		interval = time.Second
	}
	for {
		r := p.Run(ctx, ProfileStartup)
		if r.Healthy() || ctx.Err() != nil {
			return r
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return r
		case <-t.C:
		}
	}
}
