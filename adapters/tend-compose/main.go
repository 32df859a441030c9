// Command tend-compose renders a quota spec (one container or a list of
// users sharing a host) as a compose file, docker run command lines or
// Kubernetes Pods, after allocating GPUs, ports and CPU sets and checking
// everything against the host, so that what docker would reject or
// regret is caught before anything runs.
//
//	tend-compose --spec FILE [--format compose|docker-args|k8s] [--check] [--json]
//
// Without a `host:` section in the spec, the host is read from this
// machine (/proc/meminfo, cgroup, CPUs, /proc/driver/nvidia or
// nvidia-smi). Exit status: 0 success, 2 bad usage or a spec with
// problems (every problem is listed at once on stderr), 1 when the host
// cannot be read.
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

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/quota"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// report is the --json document.
type report struct {
	Spec     string            `json:"spec"`
	Format   string            `json:"format,omitempty"`
	OK       bool              `json:"ok"`
	Host     *quota.Host       `json:"host,omitempty"`
	Users    []quota.QuotaSpec `json:"users,omitempty"`
	Problems []problemJSON     `json:"problems,omitempty"`
	Warnings []problemJSON     `json:"warnings,omitempty"`
	Output   string            `json:"output,omitempty"`
}

type problemJSON struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	User    string `json:"user,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func toJSON(ps []*quota.Problem) []problemJSON {
	out := make([]problemJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, problemJSON{File: p.File, Line: p.Line, User: p.User, Field: p.Field, Message: p.Message()})
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tend-compose", flag.ContinueOnError)
	var common cli.Common
	common.Register(fs)
	spec := fs.String("spec", "", "quota spec file (YAML: `users:` or `container:`)")
	format := fs.String("format", "compose", "output: compose, docker-args or k8s")
	check := fs.Bool("check", false, "validate only; print nothing but problems")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tend-compose --spec FILE [--format compose|docker-args|k8s] [--check] [--json]\n\n"+
			"Renders a quota spec after allocating GPUs, ports and CPU sets and checking\nit against the host. Exit 0 ok, 2 bad usage or problems in the spec.\n\n")
		fs.PrintDefaults()
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
	rep := report{Spec: *spec, Format: *format}
	if *check {
		rep.Format = ""
	}
	fail := func(code int, err error) int {
		ps := quota.Problems(err)
		if common.JSON {
			rep.Problems = toJSON(ps)
			_ = cli.WriteJSON(stdout, rep)
		} else {
			for _, p := range ps {
				fmt.Fprintln(stderr, p.Error())
			}
		}
		return code
	}
	s, err := quota.LoadSpec(*spec)
	if err != nil {
		return fail(cli.ExitUsage, err)
	}
	var host quota.Host
	if s.Host == nil {
		if host, err = quota.ReadHost(ctx, quota.HostOptions{}); err != nil {
			return fail(cli.ExitFail, err)
		}
		log.Debug("read host", "memory", host.Memory.String(), "cpus", host.NumCPU(), "gpus", len(host.GPUs))
	}
	plan, err := s.Plan(host, quota.PlanOptions{})
	rep.Warnings = toJSON(plan.Warnings)
	if !common.JSON {
		for _, w := range plan.Warnings {
			log.Warn(w.Error())
		}
	}
	if err != nil {
		return fail(cli.ExitUsage, err)
	}
	rep.OK, rep.Host, rep.Users = true, &plan.Host, plan.Users
	if !*check {
		out, err := render(plan.Users)
		if err != nil {
			return fail(cli.ExitUsage, err)
		}
		rep.Output = string(out)
	}
	if common.JSON {
		if err := cli.WriteJSON(stdout, rep); err != nil {
			return cli.ExitFail
		}
		return cli.ExitOK
	}
	if *check {
		log.Info("spec is valid", "spec", *spec, "users", len(plan.Users), "warnings", len(plan.Warnings))
		return cli.ExitOK
	}
	_, err = io.WriteString(stdout, rep.Output)
	if err != nil {
		log.Error("write output", slog.Any("err", err))
		return cli.ExitFail
	}
	return cli.ExitOK
}

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
