package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Job is one of the user's own cron jobs (a backup, `wandb sync`, a
// report), run by tend-cron on its schedule beside the built-in tasks.
type Job struct {
	// Name identifies the job in logs, metrics and --only; letters,
	// digits, '.', '_' and '-', unique, and not a task's name.
	Name string `yaml:"name" json:"name"`
	// Schedule is a five-field cron expression or a descriptor (@hourly,
	// @every 10m).
	Schedule string `yaml:"schedule" json:"schedule"`
	// Command is an argv list, run as is, or a string, run by /bin/sh -c.
	Command Command `yaml:"command" json:"command"`
	// Timeout ends a run that takes longer (0 = no limit): its process
	// group gets SIGTERM, then SIGKILL.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Env is added to tend-cron's environment for the job.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Dir is the working directory ("" = tend-cron's).
	Dir Path `yaml:"dir,omitempty" json:"dir,omitempty"`
	// Overlap says what happens when a run is due while the previous one
	// still runs: skip (default: the due run is skipped, logged and
	// counted), queue (it runs once the previous one ends; at most one
	// waits, later ones are skipped) or kill (the previous run's process
	// group is killed and the due run starts).
	Overlap string `yaml:"overlap,omitempty" json:"overlap,omitempty"`
	// Jitter delays each scheduled run by a random duration below it.
	Jitter Duration `yaml:"jitter,omitempty" json:"jitter,omitempty"`
}

// Overlap policies of a job.
const (
	OverlapSkip  = "skip"
	OverlapQueue = "queue"
	OverlapKill  = "kill"
)

// Command is a job's command: Argv, or Shell run by /bin/sh -c. YAML gives
// it as a list (argv) or a string (shell).
type Command struct {
	Argv  []string `json:"argv,omitempty"`
	Shell string   `json:"shell,omitempty"`
}

// IsZero reports whether no command was given.
func (c Command) IsZero() bool { return len(c.Argv) == 0 && c.Shell == "" }

// Args returns the argv to execute: Argv, or /bin/sh -c Shell.
func (c Command) Args() []string {
	if len(c.Argv) > 0 {
		return c.Argv
	}
	if c.Shell == "" {
		return nil
	}
	return []string{"/bin/sh", "-c", c.Shell}
}

// String shows the command as the user wrote it.
func (c Command) String() string {
	if len(c.Argv) > 0 {
		return fmt.Sprintf("%q", c.Argv)
	}
	return c.Shell
}

// UnmarshalYAML reads a list of strings (argv) or a string (shell).
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*c = Command{}
			return nil
		}
		*c = Command{Shell: n.Value}
		return nil
	case yaml.SequenceNode:
		var argv []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				return errNotCommand
			}
			argv = append(argv, item.Value)
		}
		*c = Command{Argv: argv}
		return nil
	}
	return errNotCommand
}

var errNotCommand = errors.New("expected a list of strings (argv) or a string (run by /bin/sh -c)")

// MarshalYAML writes the command back in the form it was read.
func (c Command) MarshalYAML() (any, error) {
	if len(c.Argv) > 0 {
		return c.Argv, nil
	}
	return c.Shell, nil
}

// TaskNames are the built-in tasks; a job may not take one of their names.
var TaskNames = []string{"sweep", "rotate", "images"}

var jobName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate checks the job alone; field names in errors are relative to
// the job ("schedule", "command").
func (j *Job) Validate() []FieldError {
	var c checker
	j.validate(&c, "")
	out := make([]FieldError, len(c.errs))
	for i, e := range c.errs {
		out[i] = FieldError{Field: e.field, Err: e.err}
	}
	return out
}

// FieldError is one problem with a field of a value checked alone.
type FieldError struct {
	Field string
	Err   error
}

func (e FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (j *Job) validate(c *checker, p string) {
	switch {
	case j.Name == "":
		c.add(p+"name", "is required")
	case len(j.Name) > 64 || !jobName.MatchString(j.Name):
		c.add(p+"name", "%q: use at most 64 letters, digits, '.', '_' and '-', starting with a letter or digit", j.Name)
	}
	for _, t := range TaskNames {
		if j.Name == t {
			c.add(p+"name", "%q is the name of a built-in task: --only could not tell them apart", j.Name)
		}
	}
	if strings.TrimSpace(j.Schedule) == "" {
		c.add(p+"schedule", "is required (a cron expression such as \"30 2 * * *\", or @hourly, @every 10m)")
	} else {
		c.schedule(p+"schedule", j.Schedule)
	}
	switch {
	case j.Command.IsZero() || (len(j.Command.Argv) == 0 && strings.TrimSpace(j.Command.Shell) == ""):
		c.add(p+"command", "is required: an argv list [\"wandb\", \"sync\", \"--clean\"] or a shell string")
	case len(j.Command.Argv) > 0 && j.Command.Argv[0] == "":
		c.add(p+"command", "the program name (argv[0]) is empty")
	}
	for _, s := range append(append([]string{}, j.Command.Argv...), j.Command.Shell) {
		if strings.ContainsRune(s, 0) {
			c.add(p+"command", "%q holds a NUL byte, which no program can receive", s)
			break
		}
	}
	if j.Timeout < 0 {
		c.add(p+"timeout", "%v is negative", j.Timeout.D())
	}
	if j.Jitter < 0 {
		c.add(p+"jitter", "%v is negative", j.Jitter.D())
	}
	c.oneOf(p+"overlap", j.Overlap, OverlapSkip, OverlapQueue, OverlapKill)
	for k, v := range j.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			c.add(p+"env", "%q is not a variable name", k)
		}
		if strings.ContainsRune(v, 0) {
			c.add(p+"env."+k, "the value holds a NUL byte")
		}
	}
	if j.Dir != "" && unexpanded(string(j.Dir)) {
		c.add(p+"dir", "%q: the home directory is unknown ($HOME is not set), so ~ cannot be expanded", j.Dir)
	}
}

// validateJobs checks each job and that names are unique.
func validateJobs(c *checker, jobs []Job) {
	seen := map[string]int{}
	for i := range jobs {
		p := fmt.Sprintf("jobs[%d].", i)
		jobs[i].validate(c, p)
		if prev, ok := seen[jobs[i].Name]; ok && jobs[i].Name != "" {
			c.add(p+"name", "%q is also the name of jobs[%d]", jobs[i].Name, prev)
		} else {
			seen[jobs[i].Name] = i
		}
	}
}
