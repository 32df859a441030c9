// Command tend-health proves a container can do its job, for a Docker
// HEALTHCHECK or a Kubernetes exec probe:
//
//	tend-health [--config FILE] [--profile liveness|readiness|startup] [--json] [--timeout 10s]
//
// It runs the configured checks (health section of the tend config) once
// under --timeout, prints one line per check (fitting Docker's 4 KiB health
// log) or one JSON document, and exits 0 when healthy, 1 when a check failed
// and 2 on bad usage or a bad config. Without --config it runs the
// process-local checks: disk /, cgroup memory and deleted-but-open files.
// The startup profile retries the readiness checks every
// health.startup.interval until they pass or the deadline.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/health"
)

//go:embed default.yaml
var defaultYAML []byte

const defaultName = "<tend-health default>"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// jsonReport is what --json prints.
type jsonReport struct {
	Healthy bool `json:"healthy"`
	health.Report
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tend-health", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs)
	configPath := fs.String("config", "", "tend config file (default: disk /, memory and deleted-open checks)")
	profileName := fs.String("profile", "readiness", "liveness, readiness or startup")
	timeout := fs.Duration("timeout", health.DefaultTimeout, "never run longer than this (default: health.timeout, or health.startup.deadline for --profile startup)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: tend-health [--config FILE] [--profile liveness|readiness|startup] [--json] [--timeout 10s]\n\nExit 0 healthy, 1 unhealthy, 2 bad usage or config.\n\n")
		fs.PrintDefaults()
	}
	if stop, code := cli.Parse(fs, args, stdout, stderr); stop {
		return code
	}
	if common.Version {
		fmt.Fprintln(stdout, cli.VersionString("tend-health"))
		return cli.ExitOK
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tend-health: unexpected argument %q (see --help)\n", fs.Arg(0))
		return cli.ExitUsage
	}
	log, err := cli.NewLogger(stderr, common.LogFormat, common.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tend-health: %v\n", err)
		return cli.ExitUsage
	}
	profile, err := health.ParseProfile(*profileName)
	if err != nil {
		fmt.Fprintf(stderr, "tend-health: --profile: %v\n", err)
		return cli.ExitUsage
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	if timeoutSet && *timeout <= 0 {
		fmt.Fprintf(stderr, "tend-health: --timeout %s: must be positive\n", *timeout)
		return cli.ExitUsage
	}
	h, err := loadHealth(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "tend-health: %v\n", err)
		return cli.ExitUsage
	}
	checks, err := buildChecks(h, lookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "tend-health: %s: %v\n", or(*configPath, defaultName), err)
		return cli.ExitUsage
	}
	total, attempt := timeouts(h, profile, *timeout, timeoutSet)
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	p := &health.Prober{Checks: checks, Timeout: attempt, Logger: log}
	var report health.Report
	if profile == health.Startup {
		interval := time.Second
		if h.Startup != nil && h.Startup.Interval > 0 {
			interval = h.Startup.Interval.D()
		}
		report = p.WaitReady(ctx, interval)
	} else {
		report = p.Run(ctx, profile)
	}
	if common.JSON {
		if err := cli.WriteJSON(stdout, jsonReport{Healthy: report.Healthy(), Report: report}); err != nil {
			log.Error("write report", "error", err)
		}
	} else {
		io.WriteString(stdout, report.String())
	}
	if !report.Healthy() {
		return cli.ExitFail
	}
	return cli.ExitOK
}

// loadHealth loads the health section of the config at path, or the
// built-in default; TEND_HEALTH_* variables override either.
func loadHealth(path string) (*config.Health, error) {
	var cfg *config.Config
	var err error
	if path == "" {
		cfg, err = config.Parse(defaultName, defaultYAML, config.Options{})
	} else {
		cfg, err = config.Load(path, config.Options{})
	}
	if err != nil {
		var merr interface{ WrappedErrors() []error }
		if errors.As(err, &merr) && len(merr.WrappedErrors()) > 0 {
			return nil, fmt.Errorf("bad config: %v", joinErrors(merr.WrappedErrors()))
		}
		return nil, err
	}
	if cfg.Health == nil {
		return nil, fmt.Errorf("%s: no health section: nothing to check", path)
	}
	return cfg.Health, nil
}

func joinErrors(errs []error) string {
	s := ""
	for i, e := range errs {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
