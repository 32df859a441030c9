// Command entrypoint is an example of embedding tend's packages in your own
// container entrypoint instead of running tend-cron: before a training job
// starts it sweeps the caches under $HOME with a cleanup.Sweeper, proves the
// container can work with a health.Prober (free disk under $HOME, cgroup
// memory), and then replaces itself with the job.
//
//	entrypoint [-older-than 7d] [-min-free 10GiB] [-- python train.py ...]
//
// Copy it, change the rules and checks, and build it into your image:
//
//	CGO_ENABLED=0 go build -o /usr/local/bin/entrypoint ./examples/entrypoint
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tendkit/tend/cleanup"
	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/units"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("entrypoint", flag.ContinueOnError)
	olderThan := fs.String("older-than", "7d", "delete cache entries unused for this long")
	minFree := fs.String("min-free", "1GiB", "fail when less space than this is free under $HOME")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	age, err := units.ParseDuration(*olderThan)
	if err != nil {
		fmt.Fprintf(os.Stderr, "entrypoint: -older-than: %v\n", err)
		return 2
	}
	free, err := units.ParseSize(*minFree)
	if err != nil {
		fmt.Fprintf(os.Stderr, "entrypoint: -min-free: %v\n", err)
		return 2
	}
	home, err := os.UserHomeDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "entrypoint: %v\n", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// 1. Sweep the caches: old torch hub downloads and pip wheels, and
	//    notebook checkpoints anywhere under $HOME.
	sweeper := &cleanup.Sweeper{
		Rules: []cleanup.Rule{
			{Root: filepath.Join(home, ".cache/torch"), OlderThan: age, MissingOK: true},
			{Root: filepath.Join(home, ".cache/pip"), OlderThan: age, MissingOK: true},
			{Root: home, Within: []string{".ipynb_checkpoints"}, OlderThan: age, MissingOK: true},
		},
		Logger: log,
	}
	rep, err := sweeper.Sweep(ctx, false)
	if rep != nil {
		fmt.Printf("sweep: deleted %d entries, %s\n", rep.Deleted, units.Size(rep.Bytes).Human())
	}
	if err != nil {
		// Entries we could not touch are reported, not fatal.
		fmt.Fprintf(os.Stderr, "entrypoint: sweep: %v\n", err)
	}

	// 2. Prove the container can work before starting the job.
	prober := &health.Prober{
		Checks: []health.Check{
			&health.Disk{Path: home, MinFree: int64(free)},
			&health.Memory{},
		},
		Timeout: 10 * time.Second,
		Logger:  log,
	}
	report := prober.Run(ctx, health.ProfileReadiness)
	fmt.Println(report.String())
	if !report.Healthy() {
		return 1
	}

	// 3. Become the job, so that it gets the container's signals directly.
	if argv := fs.Args(); len(argv) > 0 {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			fmt.Fprintf(os.Stderr, "entrypoint: %v\n", err)
			return 127
		}
		err = syscall.Exec(path, argv, os.Environ())
		fmt.Fprintf(os.Stderr, "entrypoint: exec %s: %v\n", argv[0], err)
		return 126
	}
	return 0
}
