// Command tend-compose renders a quota spec (one container or a list of
// users sharing a host) as a compose file, docker run command lines or
// Kubernetes Pods, after allocating GPUs, ports and CPU sets and checking
// everything against the host, so that what docker would reject or
// regret is caught before anything runs.
//
//	tend-compose --spec FILE [--format compose|docker-args|k8s] [--check] [--json]
//	tend-compose --spec FILE --audit [--json]
//
// --spec - reads the spec from standard input (a pipe is read under
// --timeout, as a FIFO is).
//
// --audit reads the running containers from the Docker engine (DOCKER_HOST
// or the default socket) and reports drift from the spec: missing or
// looser memory, CPU and pids limits, a 64 MiB /dev/shm, unlimited swap,
// uncapped logs, two containers on one GPU, GPU containers the spec does
// not know; exit 1 on drift, 0 when all match.
//
// Without a `host:` section in the spec, the host is read from this
// machine (/proc/meminfo, cgroup, CPUs, /proc/driver/nvidia or
// nvidia-smi). Exit status: 0 success, 2 bad usage or a spec with
// problems (every problem is listed at once on stderr, sorted by line), 1
// when the host or the engine cannot be read or --audit finds drift.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/quota"
	"github.com/tendkit/tend/quota/dockerengine"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// report is the --json document.
type report struct {
	Spec     string             `json:"spec"`
	Format   string             `json:"format,omitempty"`
	OK       bool               `json:"ok"`
	Host     *quota.Host        `json:"host,omitempty"`
	Users    []quota.QuotaSpec  `json:"users,omitempty"`
	Problems []problemJSON      `json:"problems,omitempty"`
	Warnings []problemJSON      `json:"warnings,omitempty"`
	Output   string             `json:"output,omitempty"`
	Audit    *quota.AuditReport `json:"audit,omitempty"`
}

type problemJSON struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	User    string `json:"user,omitempty"`
	Others  int    `json:"others,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func toJSON(ps []*quota.Problem) []problemJSON {
	out := make([]problemJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, problemJSON{File: p.File, Line: p.Line, User: p.User, Others: p.Others, Field: p.Field, Message: p.Message()})
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, newDockerEngine)
}

// newDockerEngine opens the Docker engine for --audit.
func newDockerEngine(label string) (quota.Engine, func() error, error) {
	e, err := dockerengine.New(dockerengine.Options{Label: label})
	if err != nil {
		return nil, nil, err
	}
	return e, e.Close, nil
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, engine func(label string) (quota.Engine, func() error, error)) int {
	fs := flag.NewFlagSet("tend-compose", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs)
	spec := fs.String("spec", "", "quota spec `FILE` (YAML with users: or container:); - for standard input")
	format := fs.String("format", "compose", "output `FORMAT`: compose, docker-args or k8s")
	check := fs.Bool("check", false, "validate only; print nothing but problems")
	audit := fs.Bool("audit", false, "compare the running containers (Docker engine) with the spec; exit 1 on drift")
	auditLabel := fs.String("audit-label", "", "with --audit, look only at containers with this `LABEL` (KEY or KEY=VALUE)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline `DURATION` for reading the spec and for the whole audit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tend-compose --spec FILE [--format compose|docker-args|k8s] [--check] [--json]\n"+
			"       tend-compose --spec FILE --audit [--json]\n\n"+
			"Renders a quota spec after allocating GPUs, ports and CPU sets and checking\nit against the host, or audits the running containers against it.\n"+
			"Exit 0 ok, 1 drift found by --audit (or the host or engine cannot be read),\n2 bad usage or problems in the spec (all of them, sorted by line).\n\n")
		cli.PrintFlags(fs.Output(), fs)
	}
	if stop, code := cli.Parse(fs, args, stdout, stderr); stop {
		return code
	}
	if common.Version {
		fmt.Fprintln(stdout, cli.VersionString("tend-compose"))
		return cli.ExitOK
	}
	log, err := cli.NewLogger(stderr, common.LogFormat, common.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "tend-compose: %v\n", err)
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tend-compose: unexpected arguments %q (see --help)\n", fs.Args())
		return cli.ExitUsage
	}
	if *spec == "" {
		fmt.Fprintln(stderr, "tend-compose: --spec FILE is required (see --help)")
		return cli.ExitUsage
	}
	render, ok := renderers[*format]
	if !ok {
		fmt.Fprintf(stderr, "tend-compose: --format %q: use compose, docker-args or k8s\n", *format)
		return cli.ExitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "tend-compose: --timeout %s: must be positive\n", *timeout)
		return cli.ExitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep := report{Spec: *spec, Format: *format}
	if *check || *audit {
		rep.Format = ""
	}
	// Problems and warnings are plain lines on stderr, sorted by line, one
	// each (a warning inherited from defaults once, with a count).
	printProblems := func(ps []*quota.Problem) {
		for _, p := range ps {
			cli.PrintErrors(stderr, "", p)
		}
	}
	fail := func(code int, err error) int {
		ps := quota.Problems(err)
		if common.JSON {
			rep.Problems = toJSON(ps)
			_ = cli.WriteJSON(stdout, rep)
		} else {
			printProblems(ps)
		}
		return code
	}
	path := *spec
	if path == "-" {
		// Reopened, so that a pipe is read under the deadline and the
		// limit as a FIFO is.
		path = stdinPath
	}
	s, parseErr := quota.LoadSpec(ctx, path)
	if s == nil {
		return fail(cli.ExitUsage, parseErr)
	}
	var host quota.Host
	if s.Host == nil {
		if host, err = quota.ReadHost(ctx, quota.HostOptions{}); err != nil {
			return fail(cli.ExitFail, fmt.Errorf("read this machine as the host (or describe it under `host:` in the spec): %w", err))
		}
		log.Debug("read host", "memory", host.Memory.String(), "cpus", host.NumCPU(), "gpus", len(host.GPUs))
	}
	plan, err := s.Plan(host, quota.PlanOptions{})
	rep.Warnings = toJSON(plan.Warnings)
	if err != nil {
		if !common.JSON {
			// One list in file order: problems and warnings together.
			all := append(quota.Problems(err), plan.Warnings...)
			quota.SortProblems(all)
			printProblems(all)
			return cli.ExitUsage
		}
		return fail(cli.ExitUsage, err)
	}
	if !common.JSON {
		printProblems(plan.Warnings)
	}
	rep.OK, rep.Host, rep.Users = true, &plan.Host, plan.Users
	if *audit {
		return runAudit(ctx, plan, func() (quota.Engine, func() error, error) { return engine(*auditLabel) }, common.JSON, &rep, stdout, stderr)
	}
	var out []byte
	if !*check {
		if out, err = render(plan.Users); err != nil {
			return fail(cli.ExitUsage, err)
		}
	}
	if common.JSON {
		rep.Output = string(out)
		if err := cli.WriteJSON(stdout, rep); err != nil {
			return cli.ExitFail
		}
		return cli.ExitOK
	}
	if *check {
		fmt.Fprintf(stderr, "%s: spec is valid: %d users, %d warnings\n", *spec, len(plan.Users), len(plan.Warnings))
		return cli.ExitOK
	}
	_, err = stdout.Write(out)
	if err != nil {
		log.Error("write output", slog.Any("err", err))
		return cli.ExitFail
	}
	return cli.ExitOK
}

// runAudit compares the engine's running containers with the plan.
func runAudit(ctx context.Context, plan *quota.Plan, engine func() (quota.Engine, func() error, error), asJSON bool, rep *report, stdout, stderr io.Writer) int {
	e, closeEngine, err := engine()
	if err != nil {
		fmt.Fprintf(stderr, "tend-compose: audit: %v\n", err)
		return cli.ExitFail
	}
	defer func() { _ = closeEngine() }()
	a, err := quota.Audit(ctx, e, plan.Users, quota.AuditOptions{GPUs: plan.Host.GPUs})
	if err != nil {
		fmt.Fprintf(stderr, "tend-compose: %v\n", err) // "audit: list running containers: ..."
		return cli.ExitFail
	}
	rep.Audit = a
	rep.OK = len(a.Drifts) == 0
	if asJSON {
		if err := cli.WriteJSON(stdout, rep); err != nil {
			return cli.ExitFail
		}
	} else {
		for _, d := range a.Drifts {
			fmt.Fprintln(stdout, d.String())
		}
		for _, n := range a.NotRunning {
			fmt.Fprintf(stdout, "user %s: not running\n", n)
		}
		fmt.Fprintf(stdout, "%d containers checked, %d match the spec, %d drifts\n", a.Checked, len(a.Matched), len(a.Drifts))
	}
	if len(a.Drifts) > 0 {
		return cli.ExitFail
	}
	return cli.ExitOK
}

// stdinPath is what --spec - reads.
const stdinPath = "/dev/stdin"

var renderers = map[string]func([]quota.QuotaSpec) ([]byte, error){
	"compose": quota.Compose,
	"k8s":     quota.Kubernetes,
	"docker-args": func(users []quota.QuotaSpec) ([]byte, error) {
		var b strings.Builder
		for _, q := range users {
			args, err := quota.DockerArgs(q)
			if err != nil {
				return nil, err
			}
			b.WriteString(quota.ShellLine(append([]string{"docker"}, args...)...) + "\n")
		}
		return []byte(b.String()), nil
	},
}
