// Command tend-health proves a container can do its job, for a Docker
// HEALTHCHECK or a Kubernetes probe. It runs in one of four ways:
//
//	tend-health [--config FILE] [--profile liveness|readiness|startup] [--json] [--timeout DURATION]
//	tend-health --config FILE --check-config
//	tend-health --config FILE --serve ADDR
//	tend-health --from URL [--profile PROFILE] [--json] [--timeout DURATION]
//
// The first runs the configured checks (health section of the tend config)
// once under --timeout, prints one line per check (fitting Docker's 4 KiB
// health log) or one JSON document, and exits 0 when healthy and 1 when a
// check failed or the config is bad (the message says which: a bad config
// is reported as "bad config: FILE:LINE: ..."). It never exits 2, which
// Docker reserves. Without --config it runs the process-local checks: disk
// /, cgroup memory (optional) and deleted-but-open files. The startup
// profile retries the readiness checks every health.startup.interval until
// they pass or the deadline.
//
// --check-config validates the config and lists the checks of each profile;
// it exits 0 when the config is good and 2 when it is not.
//
// --serve stays resident: NVML stays open and the GPU check watches XID
// and ECC events; each profile's checks run on their own interval
// (health.serve); /livez, /readyz and /startupz answer 200 or 503 with the
// report, and /metrics serves Prometheus metrics. --from asks such a
// resident tend-health for a profile's last verdict, in milliseconds: a
// HEALTHCHECK that costs nothing. A report older than health.serve.max_age
// counts as unhealthy.
//
// The config is read under --timeout too (a FIFO, a hung mount), and at
// most 1 MiB of it.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/health"
)

//go:embed default.yaml
var defaultYAML []byte

const defaultName = "<tend-health default>"

// Exit codes. A HEALTHCHECK gets only 0 and 1: Docker reserves 2.
const (
	exitHealthy     = 0
	exitUnhealthy   = 1 // a check failed, or the config or the usage is bad
	exitCheckConfig = 2 // --check-config found the config bad
)

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

// options are the parsed flags.
type options struct {
	common      cli.Common
	config      string
	profile     health.Profile
	timeout     time.Duration
	timeoutSet  bool
	checkConfig bool
	serve       string
	from        string
}

const usage = `usage: tend-health [--config FILE] [--profile liveness|readiness|startup] [--json] [--timeout DURATION]
       tend-health --config FILE --check-config
       tend-health --config FILE --serve ADDR
       tend-health --from URL [--profile PROFILE] [--json]

Exit 0 healthy; 1 unhealthy, or a bad config or usage (the message says
which); --check-config exits 2 on a bad config. Docker reserves 2 for
health checks, so a probe never returns it.

`

func parseFlags(args []string, stdout, stderr io.Writer) (opts options, stop bool, code int) {
	fs := flag.NewFlagSet("tend-health", flag.ContinueOnError)
	opts.common.Register(fs)
	fs.StringVar(&opts.config, "config", "", "tend config `FILE` (default: disk /, memory and deleted-open checks)")
	profileName := fs.String("profile", "readiness", "the checks' `PROFILE`: liveness, readiness or startup")
	fs.DurationVar(&opts.timeout, "timeout", 0, "never run longer than this `DURATION` (default: health.timeout, else 10s; health.startup.deadline for --profile startup)")
	fs.BoolVar(&opts.checkConfig, "check-config", false, "validate the config, list each profile's checks and exit (2 on a bad config)")
	fs.StringVar(&opts.serve, "serve", "", "stay resident and serve /livez, /readyz, /startupz and /metrics on `ADDR` (host:port)")
	fs.StringVar(&opts.from, "from", "", "answer from a resident tend-health --serve at `URL` (http://127.0.0.1:9090)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		cli.PrintFlags(fs.Output(), fs)
	}
	bad := exitUnhealthy
	if slices.ContainsFunc(args, func(a string) bool { return strings.TrimLeft(a, "-") == "check-config" }) {
		bad = exitCheckConfig
	}
	if stop, code := cli.Parse(fs, args, stdout, stderr); stop {
		if code != cli.ExitOK {
			code = bad
		}
		return opts, true, code
	}
	if opts.common.Version {
		fmt.Fprintln(stdout, cli.VersionString("tend-health"))
		return opts, true, exitHealthy
	}
	fail := func(format string, a ...any) (options, bool, int) {
		fmt.Fprintf(stderr, "tend-health: "+format+" (see --help)\n", a...)
		return opts, true, bad
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	p, err := health.ParseProfile(*profileName)
	if err != nil {
		return fail("--profile: %v", err)
	}
	opts.profile = p
	fs.Visit(func(f *flag.Flag) { opts.timeoutSet = opts.timeoutSet || f.Name == "timeout" })
	if opts.timeoutSet && opts.timeout <= 0 {
		return fail("--timeout %s: must be positive", opts.timeout)
	}
	if !opts.timeoutSet {
		opts.timeout = health.DefaultTimeout
	}
	modes := 0
	for _, on := range []bool{opts.checkConfig, opts.serve != "", opts.from != ""} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return fail("--check-config, --serve and --from exclude each other")
	}
	if opts.from != "" && opts.config != "" {
		return fail("--from asks a resident tend-health, which has its own config: drop --config")
	}
	return opts, false, 0
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	start := time.Now()
	opts, stop, code := parseFlags(args, stdout, stderr)
	if stop {
		return code
	}
	bad := exitUnhealthy
	if opts.checkConfig {
		bad = exitCheckConfig
	}
	log, err := cli.NewLogger(stderr, opts.common.LogFormat, opts.common.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tend-health: %v\n", err)
		return bad
	}
	if opts.from != "" {
		return askResident(ctx, opts, stdout, stderr)
	}
	// The config is read under --timeout (or the default), so that a FIFO
	// or a hung mount cannot stall a probe.
	readTimeout := health.DefaultTimeout
	if opts.timeoutSet {
		readTimeout = opts.timeout
	}
	rctx, rcancel := context.WithTimeout(ctx, readTimeout)
	h, err := loadHealth(rctx, opts.config)
	rcancel()
	if err != nil {
		printRedacted(stderr, "tend-health: bad config", err)
		return bad
	}
	checks, err := buildChecks(h, lookupEnv)
	if err != nil {
		printRedacted(stderr, "tend-health: bad config: "+or(opts.config, defaultName), err)
		return bad
	}
	if opts.checkConfig {
		return printCheckConfig(stdout, opts.config, checks)
	}
	if opts.serve != "" {
		return serve(ctx, opts, h, checks, log, stdout, stderr)
	}
	total, attempt := timeouts(h, opts.profile, opts.timeout, opts.timeoutSet)
	if opts.timeoutSet {
		total -= time.Since(start) // the config read counts
	}
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	p := &health.Prober{Checks: checks, Timeout: min(attempt, total), Logger: log}
	var report health.Report
	if opts.profile == health.ProfileStartup {
		interval := time.Second
		if h.Startup != nil && h.Startup.Interval > 0 {
			interval = h.Startup.Interval.D()
		}
		report = p.WaitReady(ctx, interval)
	} else {
		report = p.Run(ctx, opts.profile)
	}
	writeReport(stdout, log, opts.common.JSON, report)
	if !report.Healthy() {
		return exitUnhealthy
	}
	return exitHealthy
}

func writeReport(w io.Writer, log *slog.Logger, asJSON bool, report health.Report) {
	if asJSON {
		if err := cli.WriteJSON(w, jsonReport{Healthy: report.Healthy(), Report: report}); err != nil {
			log.Error("write report", "error", err)
		}
		return
	}
	io.WriteString(w, report.String())
}

// printCheckConfig lists the checks of each profile.
func printCheckConfig(w io.Writer, path string, checks []health.Check) int {
	fmt.Fprintf(w, "%s: config OK, %d checks\n", or(path, defaultName), len(checks))
	for _, p := range []health.Profile{health.ProfileLiveness, health.ProfileReadiness, health.ProfileStartup} {
		var names []string
		for _, c := range checks {
			if health.InProfile(c, p) {
				names = append(names, health.RedactSecrets(c.Name()))
			}
		}
		fmt.Fprintf(w, "%s: %s\n", p, or(strings.Join(names, ", "), "(none)"))
	}
	if !nvmlBuilt {
		for _, c := range checks {
			if c.Name() == "gpu" {
				fmt.Fprintln(w, "note: this build has no NVML: the gpu check will fail unless optional (use the cgo build)")
			}
		}
	}
	return exitHealthy
}

// loadHealth loads the health section of the config at path (at most 1
// MiB, read under ctx), or the built-in default; TEND_HEALTH_* variables
// override either.
func loadHealth(ctx context.Context, path string) (*config.Health, error) {
	name, data := defaultName, defaultYAML
	if path != "" {
		b, err := readConfig(ctx, path)
		if err != nil {
			return nil, err
		}
		name, data = path, b
	}
	cfg, err := config.Parse(name, data, config.Options{})
	if err != nil {
		return nil, err
	}
	if cfg.Health == nil {
		return nil, fmt.Errorf("%s: no health section: nothing to check", name)
	}
	return cfg.Health, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// printRedacted prints a config error one problem per line, as every
// adapter does, with secrets redacted: a config error may quote a value
// with a secret in it (a URL with a token), and what a probe prints ends
// up in docker inspect.
func printRedacted(w io.Writer, prefix string, err error) {
	var b strings.Builder
	cli.PrintErrors(&b, prefix, err)
	io.WriteString(w, health.RedactSecrets(b.String()))
}
