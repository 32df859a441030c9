package health

import (
	"context"
	"strings"
)

// Command runs Argv (no shell) and passes when it exits 0. The first line
// of its output becomes the message; on failure the last lines of stderr
// (or stdout) are kept. The process group is killed at the deadline.
type Command struct {
	Label string
	Argv  []string
	// Env replaces the environment (nil = inherit).
	Env []string
}

// Name is "command LABEL" (default: the program).
func (c *Command) Name() string {
	l := c.Label
	if l == "" && len(c.Argv) > 0 {
		l = c.Argv[0]
	}
	return "command " + l
}

// Check runs the command once.
func (c *Command) Check(ctx context.Context) Result {
	r := runGroup(ctx, c.Argv, c.Env)
	out := lastLines(string(r.Stdout), 1)
	if r.Err != nil {
		msg := r.describe(strings.Join(c.Argv, " "), 0)
		tail := lastLines(r.Stderr, 3)
		if tail == "" {
			tail = lastLines(string(r.Stdout), 3)
		}
		if tail != "" {
			msg += ": " + tail
		}
		return failf("%s", msg)
	}
	if out == "" {
		out = "exited 0"
	}
	return passf("%s", out)
}
