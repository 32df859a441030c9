// Command tend-cron runs tend's sweep, rotate and images tasks once, on
// schedules, or as the entrypoint wrapper of a container's main process, so
// that an image needs no cron, no logrotate and no cleanup scripts.
//
//	tend-cron [--config FILE] --once [--only sweep|rotate|images] [--dry-run] [--json]
//	tend-cron [--config FILE] [--jitter 5m] [--run-at-start] [--metrics-file FILE]
//	tend-cron [--config FILE] [flags] -- CMD ARGS...
//
// Without --config it uses the embedded default config (sweep the usual ML
// caches under $HOME and /tmp older than 7 days). --once runs each task
// once, prints a summary and exits 1 when a task failed. Paths the user
// has no permission to touch (other users' files in /tmp, for a non-root
// tend-cron) are listed with the reason but do not fail a run. Without --once it
// runs the tasks on their schedules (cron expressions or @every/@daily...),
// never overlapping a task with itself, until SIGTERM or SIGINT, which stop
// the task in progress at a safe point; SIGHUP reloads the config, keeping
// the old one when the new one is bad. With "-- CMD ARGS..." it also starts
// CMD, forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 to it, reaps
// zombies when it is PID 1, and exits with CMD's status once CMD ends (127
// when CMD does not exist, 128+N when a signal N killed it).
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
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, handledSignals...)
	c := newCommand(os.Stdout, os.Stderr)
	c.signals = sigs
	c.pid1 = os.Getpid() == 1
	os.Exit(c.run(context.Background(), os.Args[1:]))
}

// run is main without the process: flags in args, output on stdout and
// stderr, and ctx's end standing for SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return newCommand(stdout, stderr).run(ctx, args)
}

// command is one invocation of tend-cron and what it needs from outside.
type command struct {
	stdout, stderr io.Writer
	// signals delivers the process's signals (nil: none, ctx alone stops).
	signals <-chan os.Signal
	// pid1 makes the entrypoint reap every child, as PID 1 must.
	pid1 bool
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
	jitter      time.Duration
	runAtStart  bool
	argv        []string // the child command after "--"
}

func (c *command) parseFlags(args []string) (f flags, stop bool, code int) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f.Register(fs)
	fs.StringVar(&f.config, "config", "", "config `FILE` (default: the embedded default: sweep ML caches under $HOME and /tmp older than 7d)")
	fs.BoolVar(&f.once, "once", false, "run each task once, print a summary and exit")
	fs.StringVar(&f.only, "only", "", "run only this `task`: sweep, rotate or images")
	fs.BoolVar(&f.dryRun, "dry-run", false, "plan only: print what would be done and change nothing")
	fs.StringVar(&f.metricsFile, "metrics-file", "", "write Prometheus metrics to `FILE` (node_exporter textfile format) after each run")
	fs.Func("jitter", "delay each scheduled run by a random `duration` below this (e.g. 5m)", func(s string) error {
		d, err := units.ParseDuration(s)
		f.jitter = d
		return err
	})
	fs.BoolVar(&f.runAtStart, "run-at-start", false, "run every task once at start, then on its schedule")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage:\n")
		fmt.Fprintf(out, "  %s [--config FILE] --once [--only sweep|rotate|images] [--dry-run] [--json]\n", name)
		fmt.Fprintf(out, "  %s [--config FILE] [--jitter D] [--run-at-start] [--metrics-file FILE]\n", name)
		fmt.Fprintf(out, "  %s [--config FILE] [flags] -- CMD ARGS...\n\n", name)
		fmt.Fprintf(out, "Runs tend's sweep, rotate and images tasks once (--once), on their schedules,\n")
		fmt.Fprintf(out, "or on their schedules while running CMD as a container entrypoint: signals\n")
		fmt.Fprintf(out, "are forwarded to CMD, zombies reaped as PID 1, and CMD's exit status returned.\n")
		fmt.Fprintf(out, "SIGHUP reloads the config. Paths the user may not touch are listed as \"not permitted\",\n")
		fmt.Fprintf(out, "not failures. Exit: 0 ok, 1 a task failed, 2 bad usage or config; with CMD, CMD's status\n")
		fmt.Fprintf(out, "(127 not found, 126 not executable, 128+N killed by signal N).\n\nFlags:\n")
		fs.PrintDefaults()
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
	switch {
	case f.only != "" && !slices.Contains(taskNames, f.only):
		return f, true, c.usage("--only %q: use one of %s", f.only, strings.Join(taskNames, ", "))
	case f.once && f.argv != nil:
		return f, true, c.usage("--once runs the tasks and exits: it cannot also run the command %q", f.argv[0])
	case f.once && (f.jitter != 0 || f.runAtStart):
		return f, true, c.usage("--jitter and --run-at-start are for the scheduler, not --once")
	case !f.once && f.JSON && !f.Version:
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
		c.printConfigError(err)
		return cli.ExitUsage
	}
	if f.once {
		return c.runOnce(ctx, f, tasks, log)
	}
	return c.serve(ctx, f, tasks, log)
}

// load reads the config (--config or the embedded default) and builds the
// tasks it configures, keeping only --only's when given.
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
	var tasks []task
	for _, mk := range c.makers {
		t, ok, err := mk(cfg, log)
		if err != nil {
			return nil, err
		}
		if ok && (f.only == "" || t.Name() == f.only) {
			tasks = append(tasks, t)
		}
	}
	if len(tasks) == 0 {
		if f.only != "" {
			return nil, fmt.Errorf("%s: --only %s: the config has no %s section", src, f.only, f.only)
		}
		return nil, fmt.Errorf("%s: no task to run: the config has no sweep, rotate or images section", src)
	}
	return tasks, nil
}

// printConfigError prints every problem of a bad config, one per line.
func (c *command) printConfigError(err error) {
	for _, e := range flatten(err) {
		fmt.Fprintf(c.stderr, "%s: %v\n", name, e)
	}
}
