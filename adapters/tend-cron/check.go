package main

import (
	"fmt"
	"time"

	"github.com/tendkit/tend/adapters/internal/cli"
	"github.com/tendkit/tend/units"
)

// checkRuns is how many next run times --check prints per task or job.
const checkRuns = 3

// check prints, for a config that loaded, each task's and job's schedule
// and its next run times; a schedule that cannot be parsed (the config
// loader has checked every one) is a bad config.
func (c *command) check(f flags, tasks []task) int {
	entries, err := newEntries(tasks)
	if err != nil {
		cli.PrintErrors(c.stderr, "", err)
		return cli.ExitUsage
	}
	src := f.config
	if src == "" {
		src = "the embedded default config"
	}
	fmt.Fprintf(c.stdout, "%s is valid: %d %s\n", src, len(entries), plural(len(entries), "entry", "entries"))
	now := c.now()
	for _, e := range entries {
		kind := "task"
		extra := ""
		if j, ok := e.task.(*jobTask); ok {
			kind = "job"
			extra = fmt.Sprintf(" overlap=%s", j.Overlap())
			if j.cfg.Timeout > 0 {
				extra += fmt.Sprintf(" timeout=%v", j.cfg.Timeout.D())
			}
			if e.jitter > 0 {
				extra += fmt.Sprintf(" jitter=%v", e.jitter)
			}
			extra += fmt.Sprintf(" command=%s", j.cfg.Command)
		}
		fmt.Fprintf(c.stdout, "%s %s: schedule %q%s\n", kind, e.task.Name(), e.spec, extra)
		t := now
		for range checkRuns {
			t = e.when.Next(t)
			if t.IsZero() {
				fmt.Fprintf(c.stdout, "  never again\n")
				break
			}
			fmt.Fprintf(c.stdout, "  next %s (in %s)\n", t.Format(time.RFC3339), units.Round(t.Sub(now)))
		}
	}
	return cli.ExitOK
}
