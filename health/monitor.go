package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tendkit/tend/units"
)

// Default intervals of a Monitor.
const (
	DefaultLivenessInterval  = 30 * time.Second
	DefaultReadinessInterval = 30 * time.Second
	DefaultStartupInterval   = 5 * time.Second
)

// Monitor is the resident form of a Prober: it keeps the checks started (a
// GPU check keeps NVML open and watches XID and ECC events), runs each
// profile's checks on its own interval in the background, and answers
// "is it healthy?" from the last report at once, over HTTP (ServeHTTP:
// /livez, /readyz, /startupz) or in code (Verdict).
//
// The startup profile runs the readiness checks every StartupInterval until
// they pass once, and then stays passed (a Kubernetes startup probe stops
// asking once it succeeds). A report older than MaxAge counts as unhealthy,
// "stale": a check that hangs past every deadline, or a Monitor whose loop
// stopped, cannot leave an old "healthy" answer standing.
//
// Start begins the work; Close stops it and waits for it.
type Monitor struct {
	// Prober holds the checks and the per-run deadline.
	Prober *Prober
	// LivenessInterval, ReadinessInterval and StartupInterval are the
	// pauses between runs (0 = the Default...Interval constants).
	LivenessInterval, ReadinessInterval, StartupInterval time.Duration
	// MaxAge is the age past which a report is stale (0 = twice the
	// profile's interval plus the Prober's timeout).
	MaxAge time.Duration
	// OnReport, when set, is called after each run with its report (for
	// metrics). It must not block.
	OnReport func(Report)
	// Logger receives a line per unhealthy run and per change of verdict
	// (nil = discard).
	Logger *slog.Logger
	// Now is the clock (nil = time.Now).
	Now func() time.Time

	mu      sync.Mutex
	last    map[Profile]Report
	started time.Time
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (m *Monitor) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Monitor) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Interval returns the pause between runs of profile p.
func (m *Monitor) Interval(p Profile) time.Duration {
	switch p {
	case ProfileLiveness:
		return or(m.LivenessInterval, DefaultLivenessInterval)
	case ProfileStartup:
		return or(m.StartupInterval, DefaultStartupInterval)
	}
	return or(m.ReadinessInterval, DefaultReadinessInterval)
}

// maxAge returns the age past which p's report is stale.
func (m *Monitor) maxAge(p Profile) time.Duration {
	if m.MaxAge > 0 {
		return m.MaxAge
	}
	t := m.Prober.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return 2*m.Interval(p) + t
}

// Start starts the checks that watch events (errors are logged: such a
// check then reports from state alone, or reports why it cannot run) and
// one goroutine per profile. Calling Start twice is an error.
func (m *Monitor) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.cancel != nil {
		m.mu.Unlock()
		return fmt.Errorf("health monitor already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	m.cancel, m.started, m.last = cancel, m.now(), map[Profile]Report{}
	m.mu.Unlock()
	if err := m.Prober.Start(ctx); err != nil {
		m.log().Warn("health checks could not start watching", "error", err)
	}
	for _, p := range []Profile{ProfileLiveness, ProfileReadiness, ProfileStartup} {
		m.wg.Go(func() { m.loop(ctx, p) })
	}
	return nil
}

// Close stops the loops, waits for them and closes the checks.
func (m *Monitor) Close() error {
	m.mu.Lock()
	cancel := m.cancel
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	m.wg.Wait()
	return m.Prober.Close()
}

// loop runs profile p every interval until ctx ends (startup: until it
// has passed once).
func (m *Monitor) loop(ctx context.Context, p Profile) {
	wasHealthy := true
	for {
		r := m.Prober.Run(ctx, p)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		m.last[p] = r
		m.mu.Unlock()
		if m.OnReport != nil {
			m.OnReport(r)
		}
		if h := r.Healthy(); h != wasHealthy || !h {
			lv := slog.LevelInfo
			if !h {
				lv = slog.LevelWarn
			}
			m.log().Log(ctx, lv, "health", "profile", string(p), "verdict", r.Verdict(), "failed", failedNames(r))
			wasHealthy = h
		}
		if p == ProfileStartup && r.Healthy() {
			return
		}
		t := time.NewTimer(m.Interval(p))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func failedNames(r Report) string {
	var n []string
	for _, res := range r.Failed() {
		n = append(n, res.Name)
	}
	return strings.Join(n, ", ")
}

// Verdict is a Monitor's answer for one profile.
type Verdict struct {
	Healthy bool `json:"healthy"`
	// Stale is set when the last report is older than the Monitor's
	// MaxAge; Reason says so, or that no report exists yet.
	Stale  bool          `json:"stale,omitempty"`
	Reason string        `json:"reason,omitempty"`
	Age    time.Duration `json:"age_ns"`
	Report *Report       `json:"report,omitempty"`
}

// Verdict answers for profile p from the last report: unhealthy when there
// is none yet, when it is stale, or when a check failed in it. The startup
// profile, once passed, stays healthy.
func (m *Monitor) Verdict(p Profile) Verdict {
	m.mu.Lock()
	r, ok := m.last[p]
	started := m.started
	m.mu.Unlock()
	now := m.now()
	if !ok {
		return Verdict{Reason: fmt.Sprintf("no %s report yet (started %s ago)", p, units.Round(now.Sub(started)))}
	}
	age := now.Sub(r.Time.Add(r.Duration))
	v := Verdict{Healthy: r.Healthy(), Age: age, Report: &r}
	if p == ProfileStartup && v.Healthy {
		return v
	}
	if max := m.maxAge(p); age > max {
		v.Healthy, v.Stale = false, true
		v.Reason = fmt.Sprintf("stale: the last %s report is %s old (at most %s): a check is stuck past its deadline", p, units.Round(age), units.Round(max))
	}
	return v
}

// Text is the verdict as a HEALTHCHECK prints it: the reason first when
// there is one, then the report's lines, all within DockerLogLimit.
func (v Verdict) Text() string {
	var b strings.Builder
	limit := DockerLogLimit
	if v.Reason != "" {
		line := cut(v.Reason, 512) + "\n"
		b.WriteString(line)
		limit -= len(line)
	}
	if v.Report != nil {
		b.WriteString(strings.Join(v.Report.Lines(limit), "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

// ProfilePaths maps the Monitor's HTTP paths to profiles.
var ProfilePaths = map[string]Profile{
	"/livez":    ProfileLiveness,
	"/readyz":   ProfileReadiness,
	"/startupz": ProfileStartup,
}

// ServeHTTP answers GET or HEAD on /livez, /readyz and /startupz: 200 when
// healthy, 503 when not, with the verdict as text (Verdict.Text) or, with
// ?format=json or Accept: application/json, as JSON.
func (m *Monitor) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p, ok := ProfilePaths[req.URL.Path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	v := m.Verdict(p)
	code := http.StatusOK
	if !v.Healthy {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	if req.URL.Query().Get("format") == "json" || strings.Contains(req.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if req.Method == http.MethodGet {
			json.NewEncoder(w).Encode(v)
		}
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if req.Method == http.MethodGet {
		io.WriteString(w, v.Text())
	}
}
