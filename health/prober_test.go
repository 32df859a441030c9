package health

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// funcCheck is a Check made of a function, for Prober logic tests.
type funcCheck struct {
	name  string
	local bool
	fn    func(ctx context.Context) Result
}

func (f funcCheck) Name() string                     { return f.name }
func (f funcCheck) Local() bool                      { return f.local }
func (f funcCheck) Check(ctx context.Context) Result { return f.fn(ctx) }

func fixed(name string, s Status, msg string) funcCheck {
	return funcCheck{name: name, fn: func(context.Context) Result { return Result{Status: s, Message: msg} }}
}

// hang blocks until release is closed, ignoring ctx, like a stuck NVML call.
func hang(name string, release chan struct{}) funcCheck {
	return funcCheck{name: name, fn: func(context.Context) Result {
		<-release
		return passf("late")
	}}
}

func TestProberHungCheckFailsAtItsDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := &Prober{
		Timeout: 2 * time.Second,
		Checks: []Check{
			fixed("quick", StatusPass, "fine"),
			Configured{Inner: hang("stuck", release), Timeout: 200 * time.Millisecond},
			hang("stuck-overall", release),
		},
	}
	start := time.Now()
	r := p.Run(context.Background(), ProfileReadiness)
	took := time.Since(start)
	assert.Less(t, took, 3*time.Second, "the verdict must come by the overall deadline")
	require.Len(t, r.Results, 3)
	assert.Equal(t, StatusPass, r.Results[0].Status)
	assert.Equal(t, StatusFail, r.Results[1].Status)
	assert.Contains(t, r.Results[1].Message, "timed out after")
	assert.Less(t, r.Results[1].Duration, time.Second, "its own deadline, not the overall one")
	assert.Equal(t, StatusFail, r.Results[2].Status)
	assert.Equal(t, "stuck-overall", r.Results[2].Name)
	assert.False(t, r.Healthy())
}

func TestProberParentContextBoundsTheRun(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p := &Prober{Timeout: time.Minute, Checks: []Check{hang("stuck", release)}}
	start := time.Now()
	r := p.Run(ctx, ProfileReadiness)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.False(t, r.Healthy())
}

func TestProberPanicIsAFailure(t *testing.T) {
	p := &Prober{Checks: []Check{funcCheck{name: "boom", fn: func(context.Context) Result { panic("nil map") }}}}
	r := p.Run(context.Background(), ProfileReadiness)
	require.Len(t, r.Results, 1)
	assert.Equal(t, StatusFail, r.Results[0].Status)
	assert.Contains(t, r.Results[0].Message, "panicked: nil map")
}

func TestProberRunsChecksConcurrently(t *testing.T) {
	var checks []Check
	for range 10 {
		checks = append(checks, funcCheck{name: "sleep", fn: func(ctx context.Context) Result {
			time.Sleep(200 * time.Millisecond)
			return passf("slept")
		}})
	}
	p := &Prober{Checks: checks}
	start := time.Now()
	r := p.Run(context.Background(), ProfileReadiness)
	assert.True(t, r.Healthy())
	assert.Less(t, time.Since(start), 1500*time.Millisecond, "10 checks of 200ms each run side by side")
}

func TestProfiles(t *testing.T) {
	disk := funcCheck{name: "disk", local: true, fn: func(context.Context) Result { return passf("ok") }}
	httpc := fixed("http", StatusPass, "ok")
	onlyLive := Configured{Inner: fixed("cmd", StatusPass, "ok"), Profiles: []Profile{ProfileLiveness}}
	onlyReady := Configured{Inner: funcCheck{name: "local-but-ready", local: true, fn: disk.fn}, Profiles: []Profile{ProfileReadiness}}
	p := &Prober{Checks: []Check{disk, httpc, onlyLive, onlyReady}}
	names := func(r Report) []string {
		var n []string
		for _, res := range r.Results {
			n = append(n, res.Name)
		}
		return n
	}
	assert.Equal(t, []string{"disk", "cmd"}, names(p.Run(context.Background(), ProfileLiveness)))
	assert.Equal(t, []string{"disk", "http", "local-but-ready"}, names(p.Run(context.Background(), ProfileReadiness)))
	assert.Equal(t, []string{"disk", "http", "local-but-ready"}, names(p.Run(context.Background(), ProfileStartup)))
}

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]Profile{"": ProfileReadiness, "liveness": ProfileLiveness, " Startup ": ProfileStartup, "readiness": ProfileReadiness} {
		got, err := ParseProfile(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	_, err := ParseProfile("alive")
	assert.ErrorContains(t, err, `unknown profile "alive"`)
}

func TestWaitReadyRetriesUntilHealthy(t *testing.T) {
	n := 0
	flaky := funcCheck{name: "flaky", fn: func(context.Context) Result {
		n++
		if n < 3 {
			return failf("not yet (%d)", n)
		}
		return passf("ready after %d", n)
	}}
	p := &Prober{Checks: []Check{flaky}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := p.WaitReady(ctx, 10*time.Millisecond)
	assert.True(t, r.Healthy())
	assert.Equal(t, ProfileStartup, r.Profile)
	assert.Equal(t, "ready after 3", r.Results[0].Message)
}

func TestWaitReadyGivesUpAtTheDeadline(t *testing.T) {
	p := &Prober{Checks: []Check{fixed("never", StatusFail, "down")}}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := p.WaitReady(ctx, 20*time.Millisecond)
	assert.False(t, r.Healthy())
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestReportLinesFitDockerLog(t *testing.T) {
	var res []Result
	for i := range 30 {
		res = append(res, Result{Name: "check", Status: StatusFail, Message: strings.Repeat("é long message ", 40) + string(rune('a'+i%26))})
	}
	res = append(res, Result{Name: "short", Status: StatusPass, Message: "ok"})
	r := Report{Profile: ProfileReadiness, Results: res}
	out := r.String()
	assert.LessOrEqual(t, len(out), DockerLogLimit)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 32, "one line per check plus the verdict")
	assert.Equal(t, "pass short: ok (0s)", lines[30], "short lines are kept whole")
	assert.Equal(t, "unhealthy: 30 of 31 checks failed (readiness 0s)", lines[31])
	for _, l := range lines[:30] {
		assert.True(t, strings.HasPrefix(l, "fail check: é long"), l)
		assert.True(t, strings.HasSuffix(l, "... (0s)"), l)
		assert.True(t, strings.ToValidUTF8(l, "?") == l, "cut inside a character: %q", l)
	}
}

// TestReportLinesManyChecks: with more checks than fit even without their
// messages, the verdict stays whole, failures come first with their names,
// and one line counts what was left out.
func TestReportLinesManyChecks(t *testing.T) {
	for _, n := range []int{120, 150, 1000} {
		var res []Result
		for i := range n {
			st := StatusPass
			if i == n-1 || i == n/2 {
				st = StatusFail
			}
			res = append(res, Result{Name: fmt.Sprintf("disk /data/volume-with-a-long-name-%04d", i), Status: st, Message: "1.0GiB free of 2.0GiB, 100 inodes free"})
		}
		r := Report{Profile: ProfileLiveness, Results: res}
		out := r.String()
		assert.LessOrEqual(t, len(out), DockerLogLimit)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		assert.Equal(t, fmt.Sprintf("unhealthy: 2 of %d checks failed (liveness 0s)", n), lines[len(lines)-1])
		assert.Equal(t, fmt.Sprintf("fail disk /data/volume-with-a-long-name-%04d: 1.0GiB free of 2.0GiB, 100 inodes free (0s)", n/2), lines[0])
		assert.Equal(t, fmt.Sprintf("fail disk /data/volume-with-a-long-name-%04d: 1.0GiB free of 2.0GiB, 100 inodes free (0s)", n-1), lines[1])
		more := lines[len(lines)-2]
		assert.Regexp(t, `^\.\.\. \d+ more checks: \d+ pass$`, more)
		var left int
		fmt.Sscanf(more, "... %d more", &left)
		assert.Equal(t, n, len(lines)-2+left, "every check is shown or counted")
	}
}

func TestReportLineIsOneLine(t *testing.T) {
	r := Result{Name: "command x", Status: StatusFail, Message: "exit 1:\nline one\n\tline two", Duration: 1500 * time.Microsecond}
	assert.Equal(t, "fail command x: exit 1: line one line two (2ms)", r.Line())
}

func TestReportJSON(t *testing.T) {
	r := Report{Profile: ProfileLiveness, Results: []Result{{Name: "disk /", Status: StatusWarn, Message: "low", Details: map[string]any{"free_bytes": 5}, Duration: 1500 * time.Microsecond}}}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var back struct {
		Profile string
		Results []struct {
			Name       string
			Status     Status
			Message    string
			Details    map[string]any
			DurationMS float64 `json:"duration_ms"`
		}
	}
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, "liveness", back.Profile)
	require.Len(t, back.Results, 1)
	assert.Equal(t, StatusWarn, back.Results[0].Status)
	assert.Equal(t, 1.5, back.Results[0].DurationMS)
	assert.Contains(t, string(b), `"status":"warn"`)
	assert.EqualValues(t, 5, back.Results[0].Details["free_bytes"])
}

// TestStartupRunsStartupOnlyChecks: the startup profile, in WaitReady and
// in a Monitor, is the readiness checks plus those placed in startup only
// (the example's torch proof); readiness and liveness never run those.
func TestStartupRunsStartupOnlyChecks(t *testing.T) {
	checks := []Check{
		fixed("svc", StatusPass, "up"),
		Configured{Inner: fixed("torch", StatusPass, "matmul ok"), Profiles: []Profile{ProfileStartup}},
		Configured{Inner: fixed("live only", StatusPass, "ok"), Profiles: []Profile{ProfileLiveness}},
	}
	p := &Prober{Checks: checks, Timeout: time.Second}
	names := func(r Report) (n []string) {
		for _, res := range r.Results {
			n = append(n, res.Name)
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := p.WaitReady(ctx, 10*time.Millisecond)
	assert.Equal(t, ProfileStartup, r.Profile)
	assert.Equal(t, []string{"svc", "torch"}, names(r))
	assert.Equal(t, []string{"svc"}, names(p.Run(ctx, ProfileReadiness)))

	m := &Monitor{Prober: p, StartupInterval: 10 * time.Millisecond}
	require.NoError(t, m.Start(ctx))
	defer m.Close()
	require.Eventually(t, func() bool { return m.Verdict(ProfileStartup).Report != nil }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"svc", "torch"}, names(*m.Verdict(ProfileStartup).Report))
}

// TestCheckTimeoutLongerThanTheProbe: a check configured with a longer
// timeout than the Prober's (the example's torch proof: 60s against
// health.timeout 10s) gets its time; the others keep theirs, and ctx still
// bounds everything.
func TestCheckTimeoutLongerThanTheProbe(t *testing.T) {
	slow := funcCheck{name: "slow", fn: func(ctx context.Context) Result {
		select {
		case <-time.After(300 * time.Millisecond):
			return passf("done")
		case <-ctx.Done():
			return failf("cut")
		}
	}}
	p := &Prober{Timeout: 100 * time.Millisecond, Checks: []Check{
		Configured{Inner: slow, Timeout: 2 * time.Second},
		funcCheck{name: "hung", fn: func(ctx context.Context) Result { <-ctx.Done(); return failf("cut") }},
	}}
	r := p.Run(context.Background(), ProfileReadiness)
	require.Len(t, r.Results, 2)
	assert.Equal(t, StatusPass, r.Results[0].Status, r.Results[0].Message)
	assert.Equal(t, StatusFail, r.Results[1].Status)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r = p.Run(ctx, ProfileReadiness)
	assert.Equal(t, StatusFail, r.Results[0].Status, "ctx (tend-health's --timeout) still bounds the run")
	assert.Less(t, time.Since(start), time.Second)
}
