package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/health"
)

// serveGCPercent is the resident mode's GOGC unless the environment sets one.
const serveGCPercent = 25

// serve runs the resident mode until ctx ends (SIGTERM): the checks run on
// their intervals in a health.Monitor, and an HTTP server answers the
// probes and /metrics.
func serve(ctx context.Context, opts options, h *config.Health, checks []health.Check, log *slog.Logger, stdout, stderr io.Writer) int {
	attempt := h.Timeout.D()
	if attempt <= 0 {
		attempt = health.DefaultTimeout
	}
	if opts.timeoutSet {
		attempt = opts.timeout
	}
	m := &health.Monitor{Prober: &health.Prober{Checks: checks, Timeout: attempt, Logger: log}, Logger: log}
	if h.Startup != nil {
		m.StartupInterval = h.Startup.Interval.D()
	}
	if s := h.Serve; s != nil {
		m.LivenessInterval, m.ReadinessInterval, m.MaxAge = s.LivenessInterval.D(), s.ReadinessInterval.D(), s.MaxAge.D()
		if s.StartupInterval > 0 {
			m.StartupInterval = s.StartupInterval.D()
		}
	}
	// The live heap is about 1 MiB; the default GOGC=100 with its 4 MiB
	// minimum lets idle RSS grow by megabytes of garbage between
	// collections. 25 keeps the resident one ~2.7 MiB smaller (measured,
	// README) for a GC every few check passes. GOGC in the environment wins.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&metrics{m: m},
	)
	mux := http.NewServeMux()
	for p := range health.ProfilePaths {
		mux.Handle(p, m)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	ln, err := net.Listen("tcp", opts.serve)
	if err != nil {
		fmt.Fprintf(stderr, "tend-health: --serve: %v\n", err)
		return exitUnhealthy
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if err := m.Start(ctx); err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "tend-health: %v\n", err)
		return exitUnhealthy
	}
	log.Info("tend-health serving", "addr", ln.Addr().String(), "checks", len(checks),
		"liveness_interval", m.Interval(health.ProfileLiveness), "readiness_interval", m.Interval(health.ProfileReadiness))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	code := exitHealthy
	select {
	case <-ctx.Done():
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "tend-health: serve: %v\n", err)
			code = exitUnhealthy
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := m.Close(); err != nil {
		log.Warn("close checks", "error", err)
	}
	return code
}
