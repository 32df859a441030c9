// Command tend-cron runs tend's sweep, rotate and images tasks and the
// user's own jobs once, on schedules, or as the init and entrypoint wrapper
// of a container's main process, so that an image needs no cron, no
// logrotate, no tini and no cleanup scripts.
//
//	tend-cron [--config FILE] --once [--only NAME] [--dry-run] [--json]
//	tend-cron [--config FILE] --usage [--json]
//	tend-cron [--config FILE] --check
//	tend-cron [--config FILE] [--jitter DURATION] [--run-at-start] [--metrics-file FILE] [--metrics-addr ADDR]
//	tend-cron [--config FILE] [flags] [--signal-group] -- CMD ARGS...
//
// Without --config it uses the embedded default config (sweep the usual ML
// caches under $HOME and /tmp older than 7 days). --once runs each task and
// job once (or only the one --only names), prints a summary and exits 1
// when one failed. --check validates the config and prints the next run
// times of each task and job. --usage prints what each sweep root and each
// of its entries (a Hugging Face model, a compile cache's kernel) hold on
// disk, their last use and what the plan would free, largest first: a dry
// run of the sweep alone. Paths the user has no permission to touch
// (other users' files in /tmp, for a non-root tend-cron) are listed with
// the reason but do not fail a run. Without --once it runs the tasks and
// jobs on their schedules (cron expressions or @every/@daily...), never
// skipping a slot without logging and counting it, until SIGTERM or
// SIGINT, which stop every task and job within a second; SIGHUP reloads the
// config, keeping the old one when the new one is bad.
//
// With "-- CMD ARGS..." it also starts CMD in a process group of its own
// (the terminal's foreground group when stdin is a terminal, so Ctrl-C
// reaches CMD once), forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2
// to it (to its whole group with --signal-group), and exits with CMD's
// status as soon as CMD ends (127 when CMD does not exist, 128+N when a
// signal N killed it). As PID 1 it splits in two (see initMain): PID 1 only
// reaps zombies and relays signals, a second tend-cron does the work, so
// that reaping never steals the status of a process someone waits for.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/adapters/internal/config"
	"github.com/tendkit/tend/units"
)

const name = "tend-cron"

func main() {
	if os.Getpid() == 1 && os.Getenv(workerEnv) == "" {
		if code, ok := initMain(os.Args[1:], os.Stderr); ok {
			os.Exit(code)
		}
	}
	underInit := os.Getenv(workerEnv) == "worker"
	os.Unsetenv(workerEnv)
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, handledSignals...)
	c := newCommand(os.Stdout, os.Stderr)
	c.signals = sigs
	c.underInit = underInit
	c.stdin = os.Stdin
	os.Exit(c.run(context.Background(), os.Args[1:]))
}

// command is one invocation of tend-cron and what it needs from outside.
type command struct {
	stdout, stderr io.Writer
	// signals delivers the process's signals (nil: none, ctx alone stops).
	signals <-chan os.Signal
	// underInit is true in the worker of a PID-1 tend-cron (initMain),
	// whose PID 1 reaps the container's zombies.
	underInit bool
	// stdin is the child's stdin (nil: none).
	stdin *os.File
	// makers build the tasks from a config (taskMakers by default).
	makers []taskMaker
	// cfgOpts are passed to the config loader.
	cfgOpts config.Options
	// Now is the clock (nil = time.Now).
	Now func() time.Time
}

func newCommand(stdout, stderr io.Writer) *command {
	return &command{stdout: stdout, stderr: stderr, makers: taskMakers}
}

func (c *command) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// flags are tend-cron's command line.
type flags struct {
	cli.Common
	config      string
	once        bool
	only        string
	dryRun      bool
	metricsFile string
	metricsAddr string
	jitter      time.Duration
	runAtStart  bool
	check       bool
	usage       bool
	signalGroup bool
	argv        []string // the child command after "--"
}

func (c *command) parseFlags(args []string) (f flags, stop bool, code int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f.Register(fs)
	fs.StringVar(&f.config, "config", "", "config `FILE` (default: the embedded config, which sweeps ML caches under $HOME and /tmp older than 7d)")
	fs.BoolVar(&f.once, "once", false, "run each task once, print a summary and exit")
	fs.StringVar(&f.only, "only", "", "run only the task (sweep, rotate, images) or job of this `NAME`")
	fs.BoolVar(&f.check, "check", false, "validate the config, print the next run times of each task and job, and exit (2 on a bad config)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on http://`ADDR`/metrics (e.g. :9464)")
	fs.BoolVar(&f.signalGroup, "signal-group", false, "forward signals to CMD's whole process group, not CMD alone (as tini -g)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "plan only: print what would be done and change nothing")
	fs.BoolVar(&f.usage, "usage", false, "print what each sweep root and its entries (HF models, kernels) hold and what the plan would free, largest first (implies --once --dry-run --only sweep)")
	fs.StringVar(&f.metricsFile, "metrics-file", "", "write Prometheus metrics to `FILE` (node_exporter textfile format) after each run")
	fs.Func("jitter", "delay each scheduled run by a random time below this `DURATION` (e.g. 5m)", func(s string) error {
		d, err := units.ParseDuration(s)
		f.jitter = d
		return err
	})
	fs.BoolVar(&f.runAtStart, "run-at-start", false, "run every task and job once at start, then on its schedule")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage:\n")
		fmt.Fprintf(out, "  %s [--config FILE] --once [--only NAME] [--dry-run] [--json]\n", name)
		fmt.Fprintf(out, "  %s [--config FILE] --usage [--json]\n", name)
		fmt.Fprintf(out, "  %s [--config FILE] --check\n", name)
		fmt.Fprintf(out, "  %s [--config FILE] [--jitter DURATION] [--run-at-start] [--metrics-file FILE] [--metrics-addr ADDR]\n", name)
		fmt.Fprintf(out, "  %s [--config FILE] [flags] [--signal-group] -- CMD ARGS...\n\n", name)
		fmt.Fprintf(out, "Runs tend's sweep, rotate and images tasks and the config's jobs once (--once),\n")
		fmt.Fprintf(out, "on their schedules, or on their schedules while running CMD as a container\n")
		fmt.Fprintf(out, "entrypoint: CMD gets its own process group (the terminal's foreground one under\n")
		fmt.Fprintf(out, "a TTY), signals are forwarded to it, zombies reaped as PID 1, and CMD's exit status\n")
		fmt.Fprintf(out, "returned. SIGHUP reloads the config. Paths the user may not touch are listed as\n")
		fmt.Fprintf(out, "\"not permitted\", not failures. Exit: 0 ok, 1 a task or job failed, 2 bad usage or\n")
		fmt.Fprintf(out, "config; with CMD, CMD's status (127 not found, 126 not executable, 128+N killed by\n")
		fmt.Fprintf(out, "signal N).\n\nFlags:\n")
		cli.PrintFlags(out, fs)
	}
	if stop, code := cli.Parse(fs, args, c.stdout, c.stderr); stop {
		return f, true, code
	}
	if rest := fs.Args(); len(rest) > 0 {
		if i := len(args) - len(rest) - 1; i < 0 || args[i] != "--" {
			return f, true, c.usage("unexpected argument %q: put the command to run after --", rest[0])
		}
		f.argv = rest
	}
	if msg := usageFlags(&f); msg != "" {
		return f, true, c.usage("%s", msg)
	}
	switch {
	case f.check && (f.once || f.argv != nil || f.dryRun || f.JSON):
		return f, true, c.usage("--check only validates the config: it cannot be combined with --once, --dry-run, --json or a command")
	case f.once && f.argv != nil:
		return f, true, c.usage("--once runs the tasks and exits: it cannot also run the command %q", f.argv[0])
	case f.once && (f.jitter != 0 || f.runAtStart):
		return f, true, c.usage("--jitter and --run-at-start are for the scheduler, not --once")
	case f.once && f.metricsAddr != "":
		return f, true, c.usage("--metrics-addr serves the scheduler's metrics; --once writes them with --metrics-file")
	case f.signalGroup && f.argv == nil:
		return f, true, c.usage("--signal-group is about the command after --, and there is none")
	case !f.once && !f.check && f.JSON && !f.Version:
		return f, true, c.usage("--json prints the summary of --once; the scheduler logs on stderr: use --log-format json")
	}
	return f, false, cli.ExitOK
}

func (c *command) usage(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s (see --help)\n", name, fmt.Sprintf(format, args...))
	return cli.ExitUsage
}

func (c *command) run(ctx context.Context, args []string) int {
	f, stop, code := c.parseFlags(args)
	if stop {
		return code
	}
	if f.Version {
		fmt.Fprintln(c.stdout, cli.VersionString(name))
		return cli.ExitOK
	}
	log, err := cli.NewLogger(c.stderr, f.LogFormat, f.LogLevel)
	if err != nil {
		return c.usage("%v", err)
	}
	tasks, err := c.load(f, log)
	if err != nil {
		cli.PrintErrors(c.stderr, "", err)
		return cli.ExitUsage
	}
	if f.check {
		return c.check(f, tasks)
	}
	if f.usage {
		enableUsage(tasks)
	}
	if f.once {
		return c.runOnce(ctx, f, tasks, log)
	}
	return c.serve(ctx, f, tasks, log)
}

// load reads the config (--config or the embedded default) and builds the
// tasks and jobs it configures, keeping only --only's when given.
func (c *command) load(f flags, log *slog.Logger) ([]task, error) {
	var cfg *config.Config
	var err error
	src := config.DefaultName
	if f.config != "" {
		src = f.config
		cfg, err = config.Load(f.config, c.cfgOpts)
	} else {
		cfg, err = config.Default(c.cfgOpts)
	}
	if err != nil {
		return nil, err
	}
	var all []task
	for _, mk := range c.makers {
		t, ok, err := mk(cfg, log)
		if err != nil {
			return nil, err
		}
		if ok {
			all = append(all, t)
		}
	}
	for _, j := range cfg.Jobs {
		all = append(all, newJobTask(j, log))
	}
	if f.only == "" {
		if len(all) == 0 {
			return nil, fmt.Errorf("%s: nothing to run: the config has no sweep, rotate or images section and no jobs", src)
		}
		return all, nil
	}
	var names []string
	for _, t := range all {
		if t.Name() == f.only {
			return []task{t}, nil
		}
		names = append(names, t.Name())
	}
	if slices.Contains(config.TaskNames, f.only) {
		return nil, fmt.Errorf("%s: --only %s: the config has no %s section", src, f.only, f.only)
	}
	return nil, fmt.Errorf("%s: --only %q: no task or job of that name (the config has: %s)", src, f.only, strings.Join(names, ", "))
}
