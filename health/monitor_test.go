package health

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable clock for Monitor tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestMonitorAnswersFromTheLastReport(t *testing.T) {
	var up atomic.Bool
	svc := funcCheck{name: "svc", fn: func(context.Context) Result {
		if up.Load() {
			return passf("up")
		}
		return failf("down")
	}}
	m := &Monitor{
		Prober:            &Prober{Checks: []Check{fixed("disk /", StatusPass, "ok"), svc}, Timeout: time.Second},
		LivenessInterval:  10 * time.Millisecond,
		ReadinessInterval: 10 * time.Millisecond,
		StartupInterval:   10 * time.Millisecond,
	}
	var reports atomic.Int64
	m.OnReport = func(Report) { reports.Add(1) }
	code, body := get(t, m, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "before Start")
	assert.Contains(t, body, "no readiness report yet")

	require.NoError(t, m.Start(context.Background()))
	defer m.Close()
	require.Eventually(t, func() bool { c, _ := get(t, m, "/readyz"); return c == 503 && reports.Load() > 2 }, 5*time.Second, 5*time.Millisecond)
	_, body = get(t, m, "/readyz")
	assert.Contains(t, body, "fail svc: down")
	code, _ = get(t, m, "/livez")
	assert.Equal(t, 200, code, "funcChecks are not local: liveness runs none and is healthy")
	code, _ = get(t, m, "/startupz")
	assert.Equal(t, 503, code)

	up.Store(true)
	require.Eventually(t, func() bool { c, _ := get(t, m, "/readyz"); return c == 200 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { c, _ := get(t, m, "/startupz"); return c == 200 }, 5*time.Second, 5*time.Millisecond)
	up.Store(false)
	require.Eventually(t, func() bool { c, _ := get(t, m, "/readyz"); return c == 503 }, 5*time.Second, 5*time.Millisecond)
	code, _ = get(t, m, "/startupz")
	assert.Equal(t, 200, code, "startup, once passed, stays passed")

	code, body = get(t, m, "/readyz?format=json")
	assert.Equal(t, 503, code)
	var v Verdict
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	assert.False(t, v.Healthy)
	require.NotNil(t, v.Report)
	assert.Equal(t, ProfileReadiness, v.Report.Profile)
	code, body = get(t, m, "/livez", "Accept", "application/json")
	assert.Equal(t, 200, code)
	assert.True(t, strings.HasPrefix(body, `{"healthy":true`), body)

	code, _ = get(t, m, "/other")
	assert.Equal(t, 404, code)
	req := httptest.NewRequest(http.MethodPost, "/livez", nil)
	w := httptest.NewRecorder()
	m.ServeHTTP(w, req)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
}

// TestMonitorStaleReportIsUnhealthy: once the last report is older than
// MaxAge (here: the clock moves on while the loop waits), the answer is
// unhealthy and says why.
func TestMonitorStaleReportIsUnhealthy(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := &Monitor{
		Prober:           &Prober{Checks: []Check{funcCheck{name: "disk /", local: true, fn: func(context.Context) Result { return passf("ok") }}}, Timeout: time.Second, Now: clk.Now},
		LivenessInterval: time.Hour, // one run, then a long wait
		Now:              clk.Now,
	}
	require.NoError(t, m.Start(context.Background()))
	defer m.Close()
	require.Eventually(t, func() bool { return m.Verdict(ProfileLiveness).Healthy }, 5*time.Second, 5*time.Millisecond)
	clk.Add(time.Hour + 30*time.Minute) // under 2h+1s
	assert.True(t, m.Verdict(ProfileLiveness).Healthy)
	clk.Add(31 * time.Minute)
	v := m.Verdict(ProfileLiveness)
	assert.False(t, v.Healthy)
	assert.True(t, v.Stale)
	assert.Contains(t, v.Reason, "stale: the last liveness report is 2h1m")
	code, body := get(t, m, "/livez")
	assert.Equal(t, 503, code)
	assert.True(t, strings.HasPrefix(body, "stale: "), body)
	assert.Contains(t, body, "pass disk /: ok", "the old report is still shown")
	assert.LessOrEqual(t, len(body), DockerLogLimit)

	m.MaxAge = 10 * time.Hour
	assert.True(t, m.Verdict(ProfileLiveness).Healthy, "MaxAge is configurable")
}

// TestMonitorHungCheckStillReports: a check that never returns is failed
// at its deadline on each run, so reports keep coming and stay fresh.
func TestMonitorHungCheckStillReports(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := hang("stuck", release)
	h.local = true
	m := &Monitor{Prober: &Prober{Checks: []Check{h}, Timeout: 50 * time.Millisecond}, LivenessInterval: 10 * time.Millisecond}
	var n atomic.Int64
	m.OnReport = func(r Report) {
		if r.Profile == ProfileLiveness {
			n.Add(1)
		}
	}
	require.NoError(t, m.Start(context.Background()))
	require.Eventually(t, func() bool { return n.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
	v := m.Verdict(ProfileLiveness)
	assert.False(t, v.Healthy)
	assert.False(t, v.Stale)
	assert.Contains(t, v.Report.Results[0].Message, "timed out after")
	start := time.Now()
	require.NoError(t, m.Close())
	assert.Less(t, time.Since(start), time.Second, "Close does not wait for the hung check")
	assert.Error(t, m.Start(context.Background()), "a Monitor starts once")
}
